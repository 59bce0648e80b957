"""English noun phrases as prompts, answers and captions write them: compare them, count them.

The comparison follows English rather than a vocabulary, so objects the sandbox cannot draw ("teddy
bear", "4 pairs of socks", "a banana") are compared as text:
- articles and quantifiers go ("a banana" = "banana", "the spoons" = "spoons");
- singular and plural are the same thing, regular ("cups", "boxes", "cherries", "leaves") and
  irregular ("mice", "geese", "people") alike, and invariant nouns stay ("fish", "sheep");
- a compound noun is pluralised on its head ("teddy bears" = "teddy bear") and a unit noun on the unit
  ("pairs of socks" = "pair of socks", which is not "socks": a pair is what is counted);
- number words count ("three cups", "a dozen eggs");
- synonyms come only from `SYNONYMS` below (tested in tests/test_tasks_english.py); nothing else is
  treated as the same thing.

>>> same_noun("teddy bears", "a teddy bear"), same_noun("4 pairs of socks", "pair of sock")
(True, True)
>>> same_noun("pairs of socks", "socks"), split_count("three mice")
(False, (3, 'mice'))
"""

from __future__ import annotations

import re

ARTICLES = ("a", "an", "the", "some", "one")
"""Leading words dropped before a noun ("one" only when no count is being read)."""

NUMBER_WORDS: dict[str, int] = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
NUMBER_WORDS.update({"a": 1, "an": 1, "a single": 1, "a dozen": 12})

IRREGULAR_PLURALS: dict[str, str] = {
    "mice": "mouse",
    "geese": "goose",
    "feet": "foot",
    "teeth": "tooth",
    "men": "man",
    "women": "woman",
    "children": "child",
    "people": "person",
    "oxen": "ox",
    "dice": "die",
    "lice": "louse",
    "cacti": "cactus",
    "fungi": "fungus",
    "knives": "knife",
    "wives": "wife",
    "lives": "life",
    "leaves": "leaf",
    "loaves": "loaf",
    "halves": "half",
    "shelves": "shelf",
    "wolves": "wolf",
    "calves": "calf",
    "scarves": "scarf",
    "thieves": "thief",
    "elves": "elf",
    "hooves": "hoof",
    "potatoes": "potato",
    "tomatoes": "tomato",
    "heroes": "hero",
    "echoes": "echo",
}
"""Plural -> singular for nouns the regular rules get wrong."""

INVARIANT = frozenset(
    {
        "fish",
        "sheep",
        "deer",
        "moose",
        "series",
        "species",
        "aircraft",
        "salmon",
        "trout",
        "shrimp",
        "bison",
        "glasses",
        "scissors",
        "pants",
        "trousers",
        "jeans",
        "shorts",
        "headphones",
        "binoculars",
        "news",
        "chess",
        "bus",
        "gas",
        "lens",
        "canvas",
        "iris",
        "cactus",
        "octopus",
        "walrus",
        "compass",
        "dress",
        "glass",
        "grass",
        "class",
        "cross",
        "boss",
        "princess",
        "mattress",
        "harness",
    }
)
"""Words whose final "s" is not a plural ending (or whose plural equals the singular)."""

IE_NOUNS = frozenset(
    {
        "cookie",
        "movie",
        "tie",
        "pie",
        "lie",
        "die",
        "brownie",
        "zombie",
        "rookie",
        "calorie",
        "smoothie",
        "selfie",
        "hoodie",
        "genie",
        "pixie",
        "magpie",
        "prairie",
        "goalie",
        "bootie",
        "veggie",
        "birdie",
    }
)
"""Singulars in "-ie" whose plural "-ies" is not "-y" + "s"."""

SYNONYMS: tuple[frozenset[str], ...] = (
    frozenset({"cup", "mug"}),
    frozenset({"car", "automobile"}),
    frozenset({"cookie", "biscuit"}),
    frozenset({"box", "crate"}),
    frozenset({"diamond", "gem"}),
    frozenset({"bicycle", "bike"}),
    frozenset({"phone", "telephone", "smartphone", "cellphone", "mobile phone"}),
    frozenset({"television", "tv", "television set"}),
    frozenset({"laptop", "notebook computer"}),
    frozenset({"sofa", "couch"}),
    frozenset({"airplane", "aeroplane", "plane"}),
    frozenset({"kitten", "kitty"}),
    frozenset({"puppy", "pup"}),
    frozenset({"rabbit", "bunny"}),
    frozenset({"grape", "bunch of grape"}),
)
"""Groups of words that name the same drawable thing (singular forms, after `noun_key`)."""

_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
_UNIT_RE = re.compile(r"^(.+?)\s+of\s+(.+)$")


def singular(word: str) -> str:
    """The singular of one English word: `singular("cherries") == "cherry"`, `singular("fish") == "fish"`."""
    w = word.lower()
    if w in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[w]
    for plural, single in IRREGULAR_PLURALS.items():
        # Compounds written as one word: "bookshelves" -> "bookshelf", "dormice" -> "dormouse".
        if len(plural) >= 4 and w.endswith(plural) and len(w) > len(plural):
            return w[: -len(plural)] + single
    if w in INVARIANT or len(w) <= 2 or not w.endswith("s") or w.endswith(("ss", "us", "is")):
        return w
    if w.endswith("ses") and w[:-2] in INVARIANT:
        return w[:-2]
    if w.endswith("ies") and len(w) > 4:
        return w[:-1] if w[:-1] in IE_NOUNS else w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "zes", "sses", "oes")):
        return w[:-2]
    return w[:-1]


def _candidates(word: str) -> set[str]:
    """Every singular a written form may stand for ("cookies" -> {"cookies", "cookie", "cooky"})."""
    w = word.lower()
    out = {w, singular(w)}
    if w.endswith("s") and w not in INVARIANT:
        out.add(w[:-1])
        if w.endswith("es"):
            out.add(w[:-2])
        if w.endswith("ies"):
            out.add(w[:-3] + "y")
        if w.endswith("ves"):
            out.update({w[:-3] + "f", w[:-3] + "fe"})
    return out


def strip_determiners(text: str) -> str:
    """Lower-case words of a noun phrase without leading articles or a final period."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    while len(words) > 1 and words[0] in ARTICLES:
        words = words[1:]
    return " ".join(words)


def noun_key(text: str) -> str:
    """A comparison key: determiners dropped, each head noun singular ("4 pairs of socks" has no count
    here; use `split_count` first). `noun_key("Teddy Bears.") == "teddy bear"`,
    `noun_key("pairs of socks") == "pair of sock"`."""
    phrase = strip_determiners(text)
    m = _UNIT_RE.match(phrase)
    if m:
        return f"{noun_key(m.group(1))} of {noun_key(m.group(2))}"
    words = phrase.split()
    if not words:
        return ""
    return " ".join(words[:-1] + [singular(words[-1])])


def singular_phrase(text: str) -> str:
    """A noun phrase in the singular, for display: "teddy bears" -> "teddy bear", "pairs of socks" ->
    "pair of socks" (the unit is singular, its complement stays as written)."""
    phrase = strip_determiners(text)
    m = _UNIT_RE.match(phrase)
    if m:
        return f"{singular_phrase(m.group(1))} of {m.group(2)}"
    words = phrase.split()
    return " ".join(words[:-1] + [singular(words[-1])]) if words else ""


_PLURAL_OF = {v: k for k, v in IRREGULAR_PLURALS.items()}


def plural(word: str) -> str:
    """The plural of one English word: `plural("cherry") == "cherries"`, `plural("mouse") == "mice"`."""
    w = word.lower()
    if w in _PLURAL_OF:
        return _PLURAL_OF[w]
    if w in INVARIANT and not w.endswith(("ss", "us", "as", "is")):
        return w
    if w.endswith("y") and len(w) > 1 and w[-2] not in "aeiou":
        return w[:-1] + "ies"
    if w.endswith(("s", "x", "z", "ch", "sh")):
        return w + "es"
    return w + "s"


def plural_phrase(text: str) -> str:
    """A noun phrase in the plural: "teddy bear" -> "teddy bears", "pair of socks" -> "pairs of socks"."""
    phrase = strip_determiners(text)
    m = _UNIT_RE.match(phrase)
    if m:
        return f"{plural_phrase(m.group(1))} of {m.group(2)}"
    words = phrase.split()
    return " ".join(words[:-1] + [plural(words[-1])]) if words else ""


def _head_sets(text: str) -> tuple[tuple[str, ...], set[str]] | None:
    phrase = strip_determiners(text)
    if _UNIT_RE.match(phrase):
        return None
    words = phrase.split()
    if not words:
        return None
    return tuple(words[:-1]), _candidates(words[-1])


def _synonyms(key: str) -> set[str]:
    out = {key}
    for group in SYNONYMS:
        if key in group:
            out |= group
    return out


def same_noun(a: str, b: str) -> bool:
    """True if two noun phrases name the same kind of thing, per the rules in the module docstring."""
    ka, kb = noun_key(a), noun_key(b)
    if not ka or not kb:
        return False
    if ka == kb or kb in _synonyms(ka):
        return True
    ha, hb = _head_sets(a), _head_sets(b)
    if ha is None or hb is None or ha[0] != hb[0]:
        return False
    # Both readings of an ambiguous plural are tried ("cookies" may be "cookie" or "cooky").
    return bool(ha[1] & hb[1])


def split_count(text: str) -> tuple[int, str] | None:
    """A leading count and the noun phrase after it: "4 pairs of socks" -> (4, "pairs of socks"),
    "three mice" -> (3, "mice"), "a dozen eggs" -> (12, "eggs"); None without a count."""
    t = " ".join(text.strip().rstrip(".").split())
    m = re.match(r"^(\d+)\s+(.+)$", t)
    if m:
        return int(m.group(1)), m.group(2)
    low = t.lower()
    for words in sorted(NUMBER_WORDS, key=len, reverse=True):
        if low.startswith(words + " ") and len(t) > len(words) + 1:
            return NUMBER_WORDS[words], t[len(words) + 1 :]
    return None
