"""The one vocabulary shared by the task generators, the renderer and the judges.

Every object a task can ask for, every fruit and flower a character can like, and every portrait
attribute lives here, so that a prompt can never name something the world cannot draw or the judge
cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Noun:
    """A countable thing with its singular and plural form."""

    singular: str
    plural: str
    synonyms: tuple[str, ...] = ()
    """Other words (singular or plural) a caption may use for this thing."""

    def form(self, n: int) -> str:
        """The word for `n` of them: `form(1) == "cup"`, `form(3) == "cups"`."""
        return self.singular if n == 1 else self.plural


def _n(singular: str, plural: str | None = None, *synonyms: str) -> Noun:
    return Noun(singular, plural or singular + "s", tuple(synonyms))


# Countable objects for the math and mapping tasks (names are singular keys).
OBJECTS: tuple[Noun, ...] = (
    _n("apple"),
    _n("ball"),
    _n("balloon"),
    _n("bell"),
    _n("book"),
    _n("bottle"),
    _n("box", "boxes", "crate", "crates"),
    _n("candle"),
    _n("car", None, "automobile", "automobiles"),
    _n("chair"),
    _n("clock"),
    _n("coin"),
    _n("cookie", None, "biscuit", "biscuits"),
    _n("crown"),
    _n("cup", None, "mug", "mugs"),
    _n("diamond", None, "gem", "gems"),
    _n("drum"),
    _n("egg"),
    _n("fish", "fish", "fishes"),
    _n("flag"),
    _n("hat"),
    _n("heart"),
    _n("house"),
    _n("key"),
    _n("kite"),
    _n("lamp"),
    _n("leaf", "leaves"),
    _n("moon"),
    _n("mushroom"),
    _n("pencil"),
    _n("ring"),
    _n("shoe"),
    _n("sock"),
    _n("star"),
    _n("tree"),
    _n("umbrella"),
)

# Favourite fruits and flowers of the knowledge characters (disjoint from OBJECTS).
FRUITS: tuple[Noun, ...] = (
    _n("banana"),
    _n("cherry", "cherries"),
    _n("grape", None, "bunch of grapes"),
    _n("lemon"),
    _n("orange"),
    _n("pear"),
    _n("strawberry", "strawberries"),
    _n("watermelon"),
)
FLOWERS: tuple[Noun, ...] = (
    _n("daisy", "daisies"),
    _n("lily", "lilies"),
    _n("lotus", "lotuses"),
    _n("orchid"),
    _n("rose"),
    _n("sunflower"),
    _n("tulip"),
    _n("violet"),
)

# Portrait attributes (closed sets; order is stable and used by renderers and judges).
GENDERS: tuple[str, ...] = ("female", "male")
AGE_GROUPS: tuple[str, ...] = ("kid", "mid-age", "old")
HAIR_COLOURS: tuple[str, ...] = ("black", "blonde", "brown", "red")
SKIN_TONES: tuple[str, ...] = ("light", "medium", "dark")
PERSON_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "gender": GENDERS,
    "age": AGE_GROUPS,
    "hair": HAIR_COLOURS,
    "skin": SKIN_TONES,
}
"""A portrait's attributes and their values, in the order descriptions write them."""

ALL_NOUNS: tuple[Noun, ...] = OBJECTS + FRUITS + FLOWERS
NOUNS_BY_NAME: dict[str, Noun] = {n.singular: n for n in ALL_NOUNS}


def _lookup_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for noun in ALL_NOUNS:
        for word in (noun.singular, noun.plural, *noun.synonyms):
            key = word.lower()
            if key in table and table[key] != noun.singular:
                raise ValueError(f"vocabulary word {word!r} names two things")
            table[key] = noun.singular
    return table


_LOOKUP = _lookup_table()


def canonical(word: str) -> str | None:
    """The singular key for any listed form of a noun, or None: `canonical("Cherries") == "cherry"`."""
    return _LOOKUP.get(" ".join(word.lower().split()))


assert len(OBJECTS) >= 30 and len(FRUITS) >= 7 and len(FLOWERS) >= 7
assert len(set(NOUNS_BY_NAME)) == len(ALL_NOUNS)
