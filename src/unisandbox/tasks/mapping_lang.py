"""A reader for the language of symbol-mapping prompts: ours and the study's, and paraphrases of them.

A prompt is a list of rules and one query. A rule links an entity to another:

    <entity> <linking phrase> <entity or object>        "Rule 5: 'C' maps to 'A'."
    <object or entity> is/are represented by <entity>   "Chairs are represented by the symbol #."
    <entity> <link> <entity>, which <link> <object>     "'Q' stands for the number 8, which means skateboard."

An entity is a symbol token, quoted or not, optionally typed: `'%'`, `the symbol $`, `Letter C`,
`number '8'`, `The digit 0`, `* symbol`, `'AA'`, `'&#'`, `22`. An object is any noun phrase that is not
an entity ("a banana", "teddy bear", "headphones"): it is kept as text, never looked up in a vocabulary.
The linking phrase is any verb phrase ("maps to", "pertains to", "signs onto", "is a symbol for", "is",
"bonds with", ...). Rules come in any order and chains have any length. The query is the one sentence
that asks for a picture ("Please generate the fruit represented by the letter 'E'.", "Draw what B
represents.").

`read_mapping` never guesses: a sentence it cannot split into entity, link and target is returned as
unreadable, and `resolve` says "undefined", "ambiguous" or "unresolved" instead of picking an answer.

>>> m = read_mapping("Rule 1: The number 3 represents a banana. Rule 2: The letter 'E' refers to the "
...                  "symbol '#'. Rule 3: The symbol '#' maps to the number 3. Please generate the fruit "
...                  "represented by the letter 'E'.")
>>> r = resolve(m)
>>> r.status, r.object, r.derivation()
('ok', 'banana', 'E -> # -> 3 -> banana')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from unisandbox.tasks.english import strip_determiners

_PUA = 0xE000
_QUOTED = re.compile(
    r"""(?<![A-Za-z])(?:'([^'\s]{1,3})'|"([^"\s]{1,3})"|‘([^’\s]{1,3})’|“([^”\s]{1,3})”)(?![A-Za-z])"""
)
_TYPE = r"(?:letter|symbol|number|numeral|digit|character|char|sign|glyph|mark|hashtag|icon)"
# A token: a masked quoted token, an integer, one capital letter, or a run of 1-3 symbol characters.
_TOKEN = r"(?:[\ue000-\uf8ff]|\d+|[A-Z](?![A-Za-z])|[^\w\s'\"‘’“”,]{1,3})"
# After a type word a lower-case letter is a symbol too ("the symbol a"); alone it would be a word.
_TYPED_TOKEN = rf"(?:{_TOKEN}|[a-z](?![A-Za-z]))"
_ENTITY = (
    rf"(?:(?i:the)\s+)?(?:(?i:{_TYPE})\s+(?P<tok>{_TYPED_TOKEN})|(?P<bare>{_TOKEN})(?:\s+(?i:{_TYPE}))?)"
)
_ENTITY_FULL = re.compile(rf"^{_ENTITY}$")
_ENTITY_START = re.compile(rf"^{_ENTITY}(?=\s|,|:|$)")
_ENTITY_END = re.compile(rf"(?:^|(?<=\s)){_ENTITY}$")
_RULE_MARK = re.compile(
    r"\b(?:rule|step)\s*\d+\s*[:.)-]\s*|\brules?\s*:\s*|(?:^|\n)\s*\d+\s*[.)]\s+|\n+|;\s+", re.IGNORECASE
)
_SENTENCE_END = re.compile(r"(?:\.|(?<=[A-Za-z0-9\ue000-\uf8ff])[!?])(?=\s|$)")
_QUERY = re.compile(
    r"^(?:(?:please|now|then|finally|next)[,]?\s+)*(?:draw|generate|create|show|paint|depict|picture|"
    r"render|produce|make|illustrate|sketch|output|display)\b"
    r"|^(?:what|which\s+\w+)\s+(?:does|do|is|would)\b",  # "What does B represent? Draw it."
    re.IGNORECASE,
)
_TYPED_MENTION = re.compile(rf"(?i:{_TYPE})s?\s+(?P<tok>{_TYPED_TOKEN})(?=$|[\s.,;:!?])")
_PUA_MENTION = re.compile(r"[\ue000-\uf8ff]")
_BARE_MENTION = re.compile(
    r"(?<![\w'])(?P<tok>\d+|[A-Z](?![\w'])|[#@$%&*+=~^<>|\\\]\[]{1,3}(?=$|[\s.,;:!?]))"
)
_PASSIVE = re.compile(
    r"^(?P<target>.+?)\s+(?:is|are)\s+(?:represented|denoted|meant|signified|symboli[sz]ed|indicated|"
    r"designated|referred\s+to|stood\s+for|encoded|coded)\s+by\s+(?P<source>.+)$",
    re.IGNORECASE,
)
_WHENEVER = re.compile(r"^whenever\s+you\s+see\s+(?P<source>.+?),\s*think\s+of\s+(?P<target>.+)$", re.I)
_LEAD = re.compile(
    r"^(?:let|read|note\s+that|remember\s+that|assume(?:\s+that)?|suppose(?:\s+that)?)\s+", re.I
)
# Linking phrases that a generic verb pattern would cut short.
_FIXED_LINKS = (
    "is short for",
    "is equal to",
    "is the same as",
    "is equivalent to",
    "think of",
    "denote",
    "as",
    "=",
    "->",
    "→",
    ":",
)
# "is a symbol for", "is the code for", "is shorthand for": the noun belongs to the link, not the object.
_NOUN_LINK = re.compile(
    r"^(?:is|are)\s+(?:(?:a|an|the)\s+)?(?:symbol|sign|code|name|word|token|label|shorthand|stand-in|"
    r"placeholder|abbreviation|key)\s+(?:for|of)\s+",
    re.IGNORECASE,
)
_GENERIC_LINK = re.compile(
    r"^(?:(?:is|are)(?:\s+[a-z]+ed)?|[a-z]+s|mean|represent|stand|refer|map|link|point|correspond)"
    r"(?:\s+(?:to|with|for|onto|into|as|by|of|on|at))?(?=\s|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Target:
    """What a rule's source stands for: another symbol, or an object named in plain words."""

    kind: Literal["symbol", "object"]
    text: str
    """The symbol token ("#", "8", "AA") or the object phrase without articles ("teddy bear")."""


@dataclass(frozen=True)
class Rule:
    """One rule: `source` stands for `target`."""

    source: str
    target: Target
    sentence: str
    """The sentence it was read from, as written."""


@dataclass(frozen=True)
class MappingText:
    """Everything read from one mapping prompt."""

    rules: tuple[Rule, ...]
    query: str | None
    """The queried symbol, or None when no single one is asked for."""
    unreadable: tuple[str, ...] = ()
    """Sentences that name symbols but could not be read as a rule or a query."""
    query_problem: str | None = None
    """Why there is no query (none, or several symbols asked for)."""


@dataclass(frozen=True)
class Resolution:
    """The object a query resolves to, with the chain of symbols, or why there is none."""

    status: Literal["ok", "undefined", "ambiguous", "unresolved", "unreadable"]
    object: str | None
    chain: tuple[str, ...] = field(default_factory=tuple)
    """Symbols visited from the query on."""
    detail: str = ""

    def derivation(self) -> str:
        """ "E -> # -> 3 -> banana", or the chain so far followed by the reason."""
        hops = " -> ".join(self.chain)
        if self.status == "ok":
            return f"{hops} -> {self.object}"
        return f"{hops} -> ? ({self.detail})" if hops else self.detail


def _mask(text: str) -> tuple[str, list[str]]:
    tokens: list[str] = []

    def sub(m: re.Match[str]) -> str:
        raw = next(g for g in m.groups() if g is not None)
        if raw.isalpha() and raw.islower():
            return m.group(0)  # a quoted word ('chair') is an object, not a symbol
        tokens.append(raw)
        return chr(_PUA + len(tokens) - 1)

    return _QUOTED.sub(sub, text), tokens


def _sentences(masked: str) -> list[str]:
    out: list[str] = []
    for piece in _RULE_MARK.split(masked):
        out += [s.strip() for s in _SENTENCE_END.split(piece) if s.strip()]
    return out


def _unmask(tok: str, tokens: list[str]) -> str:
    if len(tok) == 1 and _PUA <= ord(tok) < _PUA + len(tokens):
        return tokens[ord(tok) - _PUA]
    return tok


def _tok(m: re.Match[str]) -> str:
    return m.group("tok") or m.group("bare")


def _entity(text: str, tokens: list[str]) -> str | None:
    m = _ENTITY_FULL.match(text.strip())
    return _unmask(_tok(m), tokens) if m else None


def _object(text: str) -> Target | None:
    words = text.strip().strip("'\"‘’“”").strip()
    if not words or not re.fullmatch(r"[A-Za-z][A-Za-z' -]*", words):
        return None
    phrase = strip_determiners(words)
    return Target("object", phrase) if phrase else None


def _target(text: str, tokens: list[str]) -> Target | None:
    sym = _entity(text, tokens)
    if sym is not None:
        return Target("symbol", sym)
    return _object(text)


def _split_link(rest: str, tokens: list[str]) -> Target | None:
    """`rest` = linking phrase + target; the target, or None if the two cannot be told apart."""
    end = _ENTITY_END.search(rest)
    if end and end.start() > 0 and re.search(r"[A-Za-z=:>→]", rest[: end.start()]):
        return Target("symbol", _unmask(_tok(end), tokens))
    m = _NOUN_LINK.match(rest)
    if m:
        return _object(rest[m.end() :])
    low = rest.lower()
    for link in _FIXED_LINKS:
        if low.startswith(link + " ") or (not link[0].isalpha() and low.startswith(link)):
            return _object(rest[len(link) :])
    m = _GENERIC_LINK.match(rest)
    if m:
        return _object(rest[m.end() :])
    return None


def _read_rule(sentence: str, tokens: list[str]) -> list[tuple[str, Target]] | None:
    s = _LEAD.sub("", sentence.strip())
    m = _WHENEVER.match(s)
    if m:
        src, tgt = _entity(m.group("source"), tokens), _target(m.group("target"), tokens)
        return [(src, tgt)] if src and tgt else None
    m = _PASSIVE.match(s)
    if m:
        src, tgt = _entity(m.group("source"), tokens), _target(m.group("target"), tokens)
        return [(src, tgt)] if src and tgt else None
    parts = re.split(r",\s*which\s+", s)
    start = _ENTITY_START.match(parts[0])
    if not start:
        return None
    src = _unmask(_tok(start), tokens)
    out: list[tuple[str, Target]] = []
    rest = parts[0][start.end() :].strip().lstrip(",").strip()
    for i, piece in enumerate([rest, *parts[1:]]):
        if src is None:
            return None
        tgt = _split_link(piece.strip(), tokens)
        if tgt is None:
            return None
        out.append((src, tgt))
        src = tgt.text if tgt.kind == "symbol" else None
        if i < len(parts) - 1 and src is None:
            return None  # ", which ..." after an object: nothing to chain from
    return out


def _mentions(sentence: str, tokens: list[str]) -> list[str]:
    typed = [m.group("tok") for m in _TYPED_MENTION.finditer(sentence)]
    quoted = [m.group(0) for m in _PUA_MENTION.finditer(sentence)]
    found = typed + [q for q in quoted if q not in typed]
    if not found:
        found = [m.group("tok") for m in _BARE_MENTION.finditer(sentence)]
    out: list[str] = []
    for tok in found:
        sym = _unmask(tok, tokens)
        if sym not in out:
            out.append(sym)
    return out


_RELATIVE = re.compile(r"\b(?:that|what|which|whatever|whichever|please|the\s+(?:thing|object|item))\b", re.I)


def _is_query(sentence: str) -> bool:
    """A sentence asking for a picture; "Picture frames are represented by #." is a rule, not a query."""
    if not _QUERY.match(sentence):
        return False
    m = _PASSIVE.match(sentence)
    return not (m and not _RELATIVE.search(m.group("target")))


def read_mapping(text: str) -> MappingText:
    """Read the rules and the query of a mapping prompt (see the module docstring)."""
    masked, tokens = _mask(text)
    rules: list[Rule] = []
    queries: list[str] = []
    unreadable: list[str] = []
    query_problem: str | None = None
    for sentence in _sentences(masked):
        shown = "".join(_unmask(c, tokens) if _PUA <= ord(c) < _PUA + len(tokens) else c for c in sentence)
        if _is_query(sentence):
            mentions = _mentions(sentence, tokens)
            if len(mentions) == 1:
                queries.append(mentions[0])
            else:
                query_problem = f"the query {shown!r} names " + (
                    "no symbol" if not mentions else f"several symbols: {', '.join(mentions)}"
                )
            continue
        read = _read_rule(sentence, tokens)
        if read is None:
            if _mentions(sentence, tokens):
                unreadable.append(shown)
            continue
        rules += [Rule(src, tgt, shown) for src, tgt in read]
    query: str | None = None
    if len(set(queries)) == 1:
        query = queries[0]
    elif len(set(queries)) > 1:
        query_problem = (
            f"several query sentences ask for different symbols: {', '.join(sorted(set(queries)))}"
        )
    elif query_problem is None:
        query_problem = "no sentence asks for a picture (no query)"
    return MappingText(tuple(rules), query, tuple(unreadable), query_problem)


def resolve(m: MappingText) -> Resolution:
    """Follow the rules from the queried symbol to an object, never guessing."""
    if m.unreadable:
        return Resolution("unreadable", None, (), f"cannot read {m.unreadable[0]!r}")
    if m.query is None:
        return Resolution("undefined", None, (), m.query_problem or "no query")
    table: dict[str, list[Target]] = {}
    for r in m.rules:
        if r.target not in table.setdefault(r.source, []):
            table[r.source].append(r.target)
    chain: list[str] = []
    cur = m.query
    while True:
        if cur in chain:
            return Resolution("unresolved", None, tuple(chain), f"the chain returns to {cur} (a cycle)")
        chain.append(cur)
        targets = table.get(cur, [])
        if not targets:
            return Resolution("undefined", None, tuple(chain), f"no rule says what {cur} stands for")
        if len(targets) > 1:
            said = " and ".join(t.text for t in targets)
            return Resolution("ambiguous", None, tuple(chain), f"conflicting rules: {cur} stands for {said}")
        t = targets[0]
        if t.kind == "object":
            return Resolution("ok", t.text, tuple(chain))
        cur = t.text
