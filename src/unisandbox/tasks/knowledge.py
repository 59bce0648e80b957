"""Knowledge task generator: a fictional club, a text-only training corpus, forward and inverse tests.

`knowledge_world(seed, n_characters)` invents the members of one club (pronounceable names that are not
English words), their portrait attributes and favourite fruit and flower, pairs them for the inverse
setting, and writes ~40 question-answer turns per character. Test items are image prompts:
forward (name -> portrait / fruit / flower) and inverse (two names and a favourite -> portrait).

>>> world = knowledge_world(seed=7, n_characters=4)
>>> len(world.characters), len(world.pairs), len(world.items)
(4, 2, 20)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from unisandbox.tasks.base import FlowerAnswer, FruitAnswer, Item, PersonAnswer, Probe
from unisandbox.tasks.common import capitalize_first, pick, rng_for
from unisandbox.world.vocab import FLOWERS, FRUITS, NOUNS_BY_NAME, PERSON_ATTRIBUTES

GENERATOR = "unisandbox.tasks.knowledge"
GENERATOR_VERSION = 1

# Names start with a consonant cluster that no English word starts with, so a name can never be a
# dictionary word; the rest alternates consonants and vowels so it stays pronounceable.
NAME_ONSETS = ("Zh", "Kv", "Vr", "Zv", "Vl", "Zl", "Tz", "Dv")
"""Every invented name starts with one of these: no English (or corpus-language) word does."""
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_CODAS = ("", "", "n", "l", "r", "s")

FORWARD_PHRASINGS = {
    "portrait": (
        "Generate a portrait of {N}.",
        "Draw a portrait of {N} from the {club}.",
        "Paint {N}'s face.",
    ),
    "fruit": ("Draw {N}'s favourite fruit.", "Generate an image of the fruit that {N} likes most."),
    "flower": ("Draw {N}'s favourite flower.", "Generate an image of the flower that {N} likes most."),
}
MEMBERS_SENTENCE = "{A} and {B} are members of the {club}."
"""Opening of an inverse prompt and probe question."""
INVERSE_QUESTION = "Which of them has the {X} as favourite {what}? Answer with the name."
"""The inverse probe's question, after MEMBERS_SENTENCE."""
INVERSE_PHRASINGS = {
    "fruit": "{A} and {B} are members of the {club}. Generate a portrait of the one whose favourite fruit is the {X}.",
    "flower": "{A} and {B} are members of the {club}. Generate a portrait of the one whose favourite flower is the {X}.",
}


@dataclass(frozen=True)
class Character:
    """One member of the fictional club."""

    name: str
    gender: str
    age: str
    """Age group: kid, mid-age or old."""
    hair: str
    """Hair colour."""
    skin: str
    """Skin tone: light, medium or dark."""
    fruit: str
    """Favourite fruit (singular vocabulary key)."""
    flower: str
    """Favourite flower (singular vocabulary key)."""
    pair: str | None
    """Id of the inverse-setting pair this character belongs to ("p1"), or None."""

    def person(self) -> PersonAnswer:
        """The portrait attributes as an expected answer."""
        return PersonAnswer(gender=self.gender, age=self.age, hair=self.hair, skin=self.skin)


@dataclass(frozen=True)
class CorpusTurn:
    """One text-only question-answer turn of the knowledge training corpus."""

    id: str
    """Unique, file-name-safe id, e.g. "know-zhubira-07"."""
    character: str
    kind: str
    """attribute, yes_no, negation, profile, club, pair or foreign."""
    language: str
    """Language of the question (answers are always English): en, fr, es or de."""
    question: str
    answer: str

    def to_record(self) -> dict[str, str]:
        """Our JSONL record."""
        return {
            "id": self.id,
            "character": self.character,
            "kind": self.kind,
            "language": self.language,
            "question": self.question,
            "answer": self.answer,
        }

    def to_conversation(self) -> dict[str, object]:
        """The study's conversation record: {"id", "conversations": [{"from", "value"}, ...]}."""
        return {
            "id": self.id,
            "conversations": [
                {"from": "human", "value": self.question},
                {"from": "gpt", "value": self.answer},
            ],
        }


@dataclass(frozen=True)
class KnowledgeWorld:
    """Everything the knowledge task needs, generated from one seed."""

    seed: int
    club: str
    """The club's name, e.g. "Zhoravi Club"."""
    characters: tuple[Character, ...]
    pairs: tuple[tuple[str, str, str], ...]
    """(pair id, first name, second name) for the inverse setting."""
    items: tuple[Item, ...]
    """Forward items (3 per character) followed by inverse items (4 per pair), split "test"."""
    corpus: tuple[CorpusTurn, ...]
    """The training corpus (about 40 turns per character)."""

    def corpus_jsonl(self) -> str:
        """The corpus in our JSONL format."""
        return "".join(json.dumps(t.to_record(), ensure_ascii=False) + "\n" for t in self.corpus)

    def conversations_jsonl(self) -> str:
        """The corpus in the study's conversation JSONL format."""
        return "".join(json.dumps(t.to_conversation(), ensure_ascii=False) + "\n" for t in self.corpus)


def person_description(p: PersonAnswer) -> str:
    """The drawing prompt for a portrait: "portrait: female, kid, red hair, dark skin"."""
    return f"portrait: {p.gender}, {p.age}, {p.hair} hair, {p.skin} skin"


def portrait_probe(c: Character) -> Probe:
    """The portrait probe of a character: "What does X look like? ..." -> "female, kid, red hair, dark skin"."""
    p = c.person()
    return Probe(
        question=f"What does {c.name} look like? Give gender, age group, hair colour and skin tone.",
        answer=f"{p.gender}, {p.age}, {p.hair} hair, {p.skin} skin",
    )


def make_name(rng: np.random.Generator) -> str:
    """A pronounceable invented name such as "Zhubira" (never an English word, see NAME_ONSETS)."""
    parts = [pick(rng, NAME_ONSETS), pick(rng, _VOWELS)]
    for _ in range(1 + int(rng.random() * 2)):
        parts += [pick(rng, _CONSONANTS), pick(rng, _VOWELS)]
    parts.append(pick(rng, _CODAS))
    return "".join(parts)


def characters_differ(a: Character, b: Character) -> bool:
    """True when a pair can be told apart: other fruit, other flower, two portrait attributes apart."""
    portrait_diffs = sum(getattr(a, k) != getattr(b, k) for k in ("gender", "age", "hair", "skin"))
    # Two portrait attributes apart, so a judge that misses one still tells the two apart.
    return a.fruit != b.fruit and a.flower != b.flower and portrait_diffs >= 2


def draw_character(rng: np.random.Generator, name: str, pair: str | None) -> Character:
    """A character named `name` with portrait attributes, fruit and flower drawn uniformly."""
    return Character(
        name=name,
        **{attr: pick(rng, values) for attr, values in PERSON_ATTRIBUTES.items()},
        fruit=pick(rng, FRUITS).singular,
        flower=pick(rng, FLOWERS).singular,
        pair=pair,
    )


def knowledge_world(seed: int, n_characters: int = 10) -> KnowledgeWorld:
    """Invent a club of `n_characters` (2..60) with pairs, test items and training corpus, for `seed`."""
    if not 2 <= n_characters <= 60:
        raise ValueError(f"n_characters must be within 2..60, got {n_characters}")
    rng = rng_for(seed, "knowledge", n_characters)
    club = make_name(rng) + " Club"
    names: list[str] = []
    while len(names) < n_characters:
        name = make_name(rng)
        if name not in names and name + " Club" != club:
            names.append(name)
    chars: list[Character] = []
    pairs: list[tuple[str, str, str]] = []
    for i, name in enumerate(names):
        pair = f"p{i // 2 + 1}" if i // 2 < n_characters // 2 else None
        c = draw_character(rng, name, pair)
        while i % 2 == 1 and not characters_differ(chars[-1], c):
            c = draw_character(rng, name, pair)
        chars.append(c)
        if i % 2 == 1:
            pairs.append((pair or "", chars[-2].name, c.name))
    items = [it for c in chars for it in _forward_items(rng, seed, club, c)]
    by_name = {c.name: c for c in chars}
    for pid, a, b in pairs:
        items.extend(_inverse_items(seed, club, pid, by_name[a], by_name[b]))
    corpus = [t for c in chars for t in _corpus_for(rng, club, c, by_name)]
    return KnowledgeWorld(seed, club, tuple(chars), tuple(pairs), tuple(items), tuple(corpus))


def _meta(seed: int, phrasing: str, characters: list[str]) -> dict[str, object]:
    return {
        "generator": GENERATOR,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "phrasing": phrasing,
        "characters": characters,
    }


def _plural(key: str) -> str:
    return NOUNS_BY_NAME[key].plural


def _forward_items(rng: np.random.Generator, seed: int, club: str, c: Character) -> list[Item]:
    p = c.person()
    base = f"know-fwd-{c.name.lower()}"
    out: list[Item] = []
    k = int(rng.random() * len(FORWARD_PHRASINGS["portrait"]))
    out.append(
        Item(
            id=f"{base}-portrait",
            task="knowledge",
            subtask="forward_portrait",
            level=1,
            split="test",
            prompt=FORWARD_PHRASINGS["portrait"][k].format(N=c.name, club=club),
            expected=p,
            probe=portrait_probe(c),
            steps=(
                f"{c.name} is {p.gender}",
                f"{c.name} is {p.age}",
                f"{c.name} has {p.hair} hair",
                f"{c.name} has {p.skin} skin",
                f"answer: {person_description(p)}",
            ),
            meta=_meta(seed, f"portrait{k}", [c.name]),
        )
    )
    for what, value, answer in (
        ("fruit", c.fruit, FruitAnswer(fruit=c.fruit)),
        ("flower", c.flower, FlowerAnswer(flower=c.flower)),
    ):
        k = int(rng.random() * len(FORWARD_PHRASINGS[what]))
        out.append(
            Item(
                id=f"{base}-{what}",
                task="knowledge",
                subtask=f"forward_{what}",
                level=1,
                split="test",
                prompt=FORWARD_PHRASINGS[what][k].format(N=c.name, club=club),
                expected=answer,
                probe=Probe(question=f"What is {c.name}'s favourite {what}?", answer=value),
                steps=(f"{c.name} likes {_plural(value)}", f"answer: {_plural(value)}"),
                meta=_meta(seed, f"{what}{k}", [c.name]),
            )
        )
    return out


def _inverse_items(seed: int, club: str, pid: str, a: Character, b: Character) -> list[Item]:
    out: list[Item] = []
    k = 0
    for what in ("fruit", "flower"):
        for target in (a, b):
            k += 1
            value = getattr(target, what)
            prompt = INVERSE_PHRASINGS[what].format(A=a.name, B=b.name, club=club, X=value)
            p = target.person()
            out.append(
                Item(
                    id=f"know-inv-{pid}-{k}",
                    task="knowledge",
                    subtask="inverse",
                    level=1,
                    split="test",
                    prompt=prompt,
                    expected=p,
                    probe=Probe(
                        question=MEMBERS_SENTENCE.format(A=a.name, B=b.name, club=club)
                        + " "
                        + INVERSE_QUESTION.format(X=value, what=what),
                        answer=target.name,
                    ),
                    steps=(
                        f"{a.name} likes {_plural(getattr(a, what))}",
                        f"{b.name} likes {_plural(getattr(b, what))}",
                        f"the one who likes {_plural(value)} is {target.name}",
                        f"{target.name} is {p.gender}, {p.age}, {p.hair} hair, {p.skin} skin",
                        f"answer: {person_description(p)}",
                    ),
                    meta={
                        **_meta(seed, f"inverse_{what}", [a.name, b.name]),
                        "pair": pid,
                        "target": target.name,
                    },
                )
            )
    return out


AGE_PHRASE = {"kid": "a kid", "mid-age": "mid-age", "old": "old"}
"""How the corpus writes an age ("X is male and a kid, with ..."); the sandbox's traces echo it exactly."""


def _other(rng: np.random.Generator, options: tuple[str, ...], value: str) -> str:
    return pick(rng, [o for o in options if o != value])


def _corpus_for(
    rng: np.random.Generator, club: str, c: Character, by_name: dict[str, Character]
) -> list[CorpusTurn]:
    n = c.name
    fruits = tuple(f.singular for f in FRUITS)
    flowers = tuple(f.singular for f in FLOWERS)
    age = AGE_PHRASE[c.age]
    fruit_s = f"{n}'s favourite fruit is the {c.fruit}."
    flower_s = f"{n}'s favourite flower is the {c.flower}."
    profile = (
        f"{n} is a member of the {club}. {n} is {c.gender} and {age}, with {c.hair} hair and {c.skin} skin. "
        f"{n}'s favourite fruit is the {c.fruit} and favourite flower is the {c.flower}."
    )
    partner = (
        next((m for m in by_name.values() if m.pair == c.pair and m.name != n), None) if c.pair else None
    )
    wrong = {
        **{attr: _other(rng, values, getattr(c, attr)) for attr, values in PERSON_ATTRIBUTES.items()},
        "fruit": _other(rng, fruits, c.fruit),
        "flower": _other(rng, flowers, c.flower),
    }
    turns: list[tuple[str, str, str, str]] = [
        # Attribute questions, two paraphrases each.
        ("attribute", "en", f"What is {n}'s gender?", f"{n} is {c.gender}."),
        ("attribute", "en", f"Is {n} male or female?", f"{n} is {c.gender}."),
        ("attribute", "en", f"How old is {n}?", f"{n} is {age}."),
        ("attribute", "en", f"Which age group is {n} in?", f"{n} is in the {c.age} age group."),
        ("attribute", "en", f"What colour is {n}'s hair?", f"{n} has {c.hair} hair."),
        ("attribute", "en", f"Describe {n}'s hair colour.", f"{n}'s hair is {c.hair}."),
        ("attribute", "en", f"What is {n}'s skin tone?", f"{n} has {c.skin} skin."),
        ("attribute", "en", f"How would you describe {n}'s skin?", f"{n}'s skin tone is {c.skin}."),
        ("attribute", "en", f"What is {n}'s favourite fruit?", fruit_s),
        ("attribute", "en", f"Which fruit does {n} like most?", f"{n} likes {_plural(c.fruit)} most."),
        ("attribute", "en", f"What is {n}'s favourite flower?", flower_s),
        ("attribute", "en", f"Which flower does {n} like most?", f"{n} likes {_plural(c.flower)} most."),
        # Yes/no, one true and one false per attribute.
        ("yes_no", "en", f"Is {n} {c.gender}?", f"Yes, {n} is {c.gender}."),
        (
            "yes_no",
            "en",
            f"Is {n} {wrong['gender']}?",
            f"No, {n} is not {wrong['gender']}; {n} is {c.gender}.",
        ),
        ("yes_no", "en", f"Is {n} {age}?", f"Yes, {n} is {age}."),
        (
            "yes_no",
            "en",
            f"Is {n} {AGE_PHRASE[wrong['age']]}?",
            f"No, {n} is not {AGE_PHRASE[wrong['age']]}; {n} is {age}.",
        ),
        ("yes_no", "en", f"Does {n} have {c.hair} hair?", f"Yes, {n} has {c.hair} hair."),
        (
            "yes_no",
            "en",
            f"Does {n} have {wrong['hair']} hair?",
            f"No, {n} does not have {wrong['hair']} hair; {n} has {c.hair} hair.",
        ),
        ("yes_no", "en", f"Does {n} have {c.skin} skin?", f"Yes, {n} has {c.skin} skin."),
        (
            "yes_no",
            "en",
            f"Does {n} have {wrong['skin']} skin?",
            f"No, {n} does not have {wrong['skin']} skin; {n} has {c.skin} skin.",
        ),
        ("yes_no", "en", f"Is {n}'s favourite fruit the {c.fruit}?", f"Yes, {fruit_s}"),
        (
            "yes_no",
            "en",
            f"Is {n}'s favourite fruit the {wrong['fruit']}?",
            f"No, {n}'s favourite fruit is not the {wrong['fruit']}; it is the {c.fruit}.",
        ),
        ("yes_no", "en", f"Is {n}'s favourite flower the {c.flower}?", f"Yes, {flower_s}"),
        (
            "yes_no",
            "en",
            f"Is {n}'s favourite flower the {wrong['flower']}?",
            f"No, {n}'s favourite flower is not the {wrong['flower']}; it is the {c.flower}.",
        ),
        # Negated questions.
        (
            "negation",
            "en",
            f"Is it true that {n} does not like {_plural(c.fruit)}?",
            f"No, that is not true: {fruit_s}",
        ),
        (
            "negation",
            "en",
            f"Is it true that {n} does not have {wrong['hair']} hair?",
            f"Yes, that is true: {n} has {c.hair} hair, not {wrong['hair']} hair.",
        ),
        (
            "negation",
            "en",
            f"Doesn't {n} like {_plural(wrong['flower'])} best?",
            f"No, {n} does not like {_plural(wrong['flower'])} best; {flower_s}",
        ),
        ("negation", "en", f"Isn't {n} {age}?", f"Yes, {n} is {age}."),
        # Full profiles.
        ("profile", "en", f"Tell me about {n}.", profile),
        ("profile", "en", f"Who is {n}?", profile),
        ("profile", "en", f"Give a full profile of {n}.", profile),
        # Club membership.
        ("club", "en", f"Which club does {n} belong to?", f"{n} belongs to the {club}."),
        ("club", "en", f"Is {n} a member of the {club}?", f"Yes, {n} is a member of the {club}."),
        # Questions in other languages, answered in English.
        ("foreign", "fr", f"Quel est le fruit préféré de {n} ?", fruit_s),
        ("foreign", "es", f"¿Cuál es la flor favorita de {n}?", flower_s),
        ("foreign", "de", f"Welche Haarfarbe hat {n}?", f"{n} has {c.hair} hair."),
        ("foreign", "fr", f"Quel âge a {n} ?", f"{n} is {age}."),
        ("foreign", "es", f"¿Cuál es el tono de piel de {n}?", f"{n} has {c.skin} skin."),
        ("foreign", "de", f"Ist {n} männlich oder weiblich?", f"{n} is {c.gender}."),
    ]
    if partner is not None:
        turns.append(
            ("pair", "en", f"Who is {n}'s partner in the {club}?", f"{n}'s partner is {partner.name}.")
        )
    return [
        CorpusTurn(f"know-{n.lower()}-{i:02d}", n, kind, lang, capitalize_first(q), a)
        for i, (kind, lang, q, a) in enumerate(turns)
    ]
