"""The caption grammar (parse and render) and the comparison of a caption with the expected answer.

Grammar (case-insensitive, surrounding spaces and a final period ignored):

    N <noun>                                   "3 apples", "1 apple" (N as digits or one..twelve)
    Person: <skin>; <hair>; <age>; <gender>    "Person: dark; red; kid; female"
    Fruit: <fruit>                             "Fruit: banana"
    Flower: <flower>                           "Flower: rose"
    Error                                      blank, noise, mixed types, distortion, unreadable

Nouns go through `world.vocab.canonical` (plural, singular and listed synonyms); a noun outside the
vocabulary ("3 teddy bears", "4 pairs of socks") is kept as English text and compared by
`tasks.english.same_noun` (plurals, irregular plurals, compounds, "pairs of", articles, and synonyms only
from its tested list), so items whose objects the sandbox cannot draw are still judged in code. Portrait
attributes go through `ATTRIBUTE_SYNONYMS`. `match` is pure code: the judge never sees the expected answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unisandbox.judges.base import Caption, Verdict
from unisandbox.tasks import english
from unisandbox.world import vocab

if TYPE_CHECKING:
    from unisandbox.tasks.base import Answer

ERROR = "Error"
"""The reject caption."""

NUMBER_WORDS = {
    w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}

ATTRIBUTE_SYNONYMS: dict[str, dict[str, str]] = {
    "skin": {
        "light": "light",
        "fair": "light",
        "pale": "light",
        "medium": "medium",
        "tan": "medium",
        "olive": "medium",
        "dark": "dark",
        "brown": "dark",
        "deep": "dark",
    },
    "hair": {
        "black": "black",
        "blonde": "blonde",
        "blond": "blonde",
        "yellow": "blonde",
        "golden": "blonde",
        "brown": "brown",
        "brunette": "brown",
        "red": "red",
        "ginger": "red",
        "auburn": "red",
        "orange": "red",
    },
    "age": {
        "kid": "kid",
        "child": "kid",
        "children": "kid",
        "boy": "kid",
        "girl": "kid",
        "young": "kid",
        "mid-age": "mid-age",
        "mid age": "mid-age",
        "middle-aged": "mid-age",
        "middle aged": "mid-age",
        "adult": "mid-age",
        "old": "old",
        "elderly": "old",
        "senior": "old",
        "aged": "old",
    },
    "gender": {
        "female": "female",
        "woman": "female",
        "girl": "female",
        "f": "female",
        "male": "male",
        "man": "male",
        "boy": "male",
        "m": "male",
    },
}
"""Accepted words for each portrait attribute -> the vocabulary value."""

assert set(ATTRIBUTE_SYNONYMS["skin"].values()) == set(vocab.SKIN_TONES)
assert set(ATTRIBUTE_SYNONYMS["hair"].values()) == set(vocab.HAIR_COLOURS)
assert set(ATTRIBUTE_SYNONYMS["age"].values()) == set(vocab.AGE_GROUPS)
assert set(ATTRIBUTE_SYNONYMS["gender"].values()) == set(vocab.GENDERS)

_FRUITS = {n.singular for n in vocab.FRUITS}
_FLOWERS = {n.singular for n in vocab.FLOWERS}


@dataclass(frozen=True)
class Parsed:
    """A caption in structured form."""

    kind: str
    """"count", "person", "fruit", "flower" or "error"."""
    count: int | None = None
    """Number of objects (kind "count"; 1 for "fruit"/"flower")."""
    object: str | None = None
    """Singular vocabulary key (kinds "count", "fruit", "flower"); for a noun outside the vocabulary, the
    noun phrase in the singular as written ("teddy bear", "pair of socks")."""
    person: tuple[str, str, str, str] | None = None
    """(skin, hair, age, gender) for kind "person"."""


class CaptionSyntaxError(ValueError):
    """A caption that is not in the grammar."""


def _norm(text: str) -> str:
    return " ".join(text.strip().strip("`\"'").rstrip(".").split()).lower()


def _attr(kind: str, word: str, text: str) -> str:
    value = ATTRIBUTE_SYNONYMS[kind].get(_norm(word))
    if value is None:
        raise CaptionSyntaxError(f"unknown {kind} {word.strip()!r} in caption {text!r}")
    return value


_COUNT = re.compile(r"^(\d+|[a-z]+)\s+(.+)$")
_PLAIN_NOUN = re.compile(r"^[a-z][a-z'-]*(?: [a-z][a-z'-]*){0,3}$")
_NOT_A_NOUN = {"and", "or", "with", "plus", "but", "then", "is", "are", "of"}
_LABELLED = re.compile(r"^(person|fruit|flower)\s*:\s*(.+)$")


def parse_caption(text: str) -> Parsed:
    """Parse a caption; raise CaptionSyntaxError if it is not in the grammar.

    >>> parse_caption("3 Apples.")
    Parsed(kind='count', count=3, object='apple', person=None)
    >>> parse_caption("Person: dark; red; kid; female").person
    ('dark', 'red', 'kid', 'female')
    """
    t = _norm(text)
    if t in ("error", "reject", "error/reject"):
        return Parsed("error")
    m = _LABELLED.match(t)
    if m:
        label, body = m.groups()
        if label == "person":
            parts = [p for p in re.split(r"[;,]", body)]
            if len(parts) != 4:
                raise CaptionSyntaxError(f"a person caption has 4 fields (skin; hair; age; gender): {text!r}")
            skin, hair, age, gender = (
                _attr(k, w, text) for k, w in zip(("skin", "hair", "age", "gender"), parts, strict=True)
            )
            return Parsed("person", person=(skin, hair, age, gender))
        key = vocab.canonical(body)
        allowed = _FRUITS if label == "fruit" else _FLOWERS
        if key is None or key not in allowed:
            raise CaptionSyntaxError(f"{body!r} is not a known {label} in caption {text!r}")
        return Parsed(label, count=1, object=key)
    m = _COUNT.match(t)
    if m:
        num, noun = m.groups()
        count = int(num) if num.isdigit() else NUMBER_WORDS.get(num)
        key = vocab.canonical(noun)
        if count is not None and key is not None:
            return Parsed("count", count=count, object=key)
        if count is not None and _is_plain_noun(noun):
            return Parsed("count", count=count, object=english.singular_phrase(noun))
    raise CaptionSyntaxError(f"caption not in the grammar: {text!r}")


def _is_plain_noun(noun: str) -> bool:
    """One noun phrase of plain words ("teddy bears", "pairs of socks"), not a list or a sentence."""
    words = noun.split()
    unit = len(words) >= 3 and words[1] == "of"
    rest = words[2:] if unit else words
    return (
        bool(_PLAIN_NOUN.match(noun))
        and not any(w in _NOT_A_NOUN for w in rest)
        and not ("of" in words and not unit)
    )


def is_valid_caption(text: str) -> bool:
    """True if `text` parses."""
    try:
        parse_caption(text)
    except CaptionSyntaxError:
        return False
    return True


def count_caption(count: int, obj: str) -> str:
    """`count_caption(3, "cherry") == "3 cherries"`; objects outside the vocabulary follow English
    (`count_caption(2, "teddy bear") == "2 teddy bears"`)."""
    if obj in vocab.NOUNS_BY_NAME:
        return f"{count} {vocab.NOUNS_BY_NAME[obj].form(count)}"
    return f"{count} {obj if count == 1 else english.plural_phrase(obj)}"


def person_caption(skin: str, hair: str, age: str, gender: str) -> str:
    """`person_caption("dark", "red", "kid", "female") == "Person: dark; red; kid; female"`."""
    return f"Person: {skin}; {hair}; {age}; {gender}"


def single_caption(name: str) -> str:
    """`single_caption("rose") == "Flower: rose"`; objects get the count form ("1 cup")."""
    if name in _FRUITS:
        return f"Fruit: {name}"
    if name in _FLOWERS:
        return f"Flower: {name}"
    return count_caption(1, name)


def answer_caption(expected: Answer) -> str:
    """The canonical caption of an image that is exactly right for `expected`.

    An ObjectAnswer has no fixed count; its canonical caption uses 1.
    """
    if expected.kind == "count":
        return count_caption(expected.count, expected.object)
    if expected.kind == "object":
        return count_caption(1, expected.object)
    if expected.kind == "person":
        e = expected
        return person_caption(e.skin, e.hair, e.age, e.gender)
    if expected.kind == "fruit":
        return f"Fruit: {expected.fruit}"
    return f"Flower: {expected.flower}"


def _matches(p: Parsed, expected: Answer) -> bool:
    if p.kind == "error":
        return False
    if expected.kind == "person":
        e = expected
        return p.kind == "person" and p.person == (e.skin, e.hair, e.age, e.gender)
    if p.kind == "person" or p.object is None or p.count is None:
        return False
    if expected.kind == "count":
        return _same_object(p.object, expected.object) and p.count == expected.count
    # Mapping and knowledge ask for the identity of the thing: any positive number of it is right
    # ("3 cherries" shows the favourite fruit cherry), and "Fruit: x" / "1 x" are the same picture.
    target = {"object": "object", "fruit": "fruit", "flower": "flower"}[expected.kind]
    return p.count >= 1 and _same_object(p.object, getattr(expected, target))


def _same_object(said: str, expected: str) -> bool:
    """Vocabulary keys must be equal; anything else is compared as English."""
    if said == expected:
        return True
    if said in vocab.NOUNS_BY_NAME and expected in vocab.NOUNS_BY_NAME:
        return False
    return english.same_noun(said, expected)


def match(caption: str | None, expected: Answer) -> Verdict:
    """Compare a blind caption with the expected answer, in code.

    None (the judge failed) and a caption outside the grammar give "error"; "Error" (the judge
    rejected the image) gives "wrong".

    >>> from unisandbox.tasks.base import CountAnswer
    >>> match("2 cups", CountAnswer(count=2, object="cup")), match("2 mugs", CountAnswer(count=3, object="cup"))
    ('correct', 'wrong')
    """
    if caption is None:
        return "error"
    try:
        parsed = parse_caption(caption)
    except CaptionSyntaxError:
        return "error"
    return "correct" if _matches(parsed, expected) else "wrong"


def verdict_for(caption: Caption | None, expected: Answer, has_image: bool) -> Verdict:
    """The verdict of one sample: "missing" without an image, "error" without a caption, else `match`."""
    if not has_image:
        return "missing"
    if caption is None or caption.error is not None or caption.text is None:
        return "error"
    return match(caption.text, expected)
