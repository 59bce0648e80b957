import pytest

from unisandbox.judges.base import Caption
from unisandbox.judges.match import (
    CaptionSyntaxError,
    Parsed,
    answer_caption,
    count_caption,
    is_valid_caption,
    match,
    parse_caption,
    person_caption,
    single_caption,
    verdict_for,
)
from unisandbox.tasks.base import CountAnswer, FlowerAnswer, FruitAnswer, ObjectAnswer, PersonAnswer
from unisandbox.world import vocab

PERSON = PersonAnswer(gender="female", age="kid", hair="red", skin="dark")


@pytest.mark.parametrize(
    "text,parsed",
    [
        ("3 apples", Parsed("count", 3, "apple")),
        ("1 apple", Parsed("count", 1, "apple")),
        ("  Three Cherries. ", Parsed("count", 3, "cherry")),
        ("2 mugs", Parsed("count", 2, "cup")),
        ("4 leaves", Parsed("count", 4, "leaf")),
        ("2 bunch of grapes", Parsed("count", 2, "grape")),
        ("Fruit: banana", Parsed("fruit", 1, "banana")),
        ("fruit:Strawberries", Parsed("fruit", 1, "strawberry")),
        ("Flower: lily", Parsed("flower", 1, "lily")),
        ("Error", Parsed("error")),
        ("error.", Parsed("error")),
        ("Person: dark; red; kid; female", Parsed("person", person=("dark", "red", "kid", "female"))),
        ("person: Light; Blond; elderly; man", Parsed("person", person=("light", "blonde", "old", "male"))),
        # Objects outside the vocabulary are kept as English, in the singular.
        ("three unicorns", Parsed("count", 3, "unicorn")),
        ("2 Teddy Bears.", Parsed("count", 2, "teddy bear")),
        ("4 pairs of socks", Parsed("count", 4, "pair of socks")),
        ("3 mice", Parsed("count", 3, "mouse")),
    ],
)
def test_parse_golden(text, parsed):
    assert parse_caption(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "apples",
        "3",
        "Fruit: rose",
        "Flower: banana",
        "Person: dark; red; kid",
        "Person: dark; purple; kid; female",
        "I see 3 apples",
        "Fruit:",
        "3 apples and 2 cups",
        "3 unicorns and 2 dragons",
        "one of them is red",
        "2 bears with hats",
        "3 red, blue and green balls",
    ],
)
def test_parse_rejects(text):
    with pytest.raises(CaptionSyntaxError):
        parse_caption(text)
    assert not is_valid_caption(text)


def test_render_then_parse_round_trips_for_the_whole_vocabulary():
    for noun in vocab.ALL_NOUNS:
        for n in (1, 2, 9):
            assert parse_caption(count_caption(n, noun.singular)) == Parsed("count", n, noun.singular)
        p = parse_caption(single_caption(noun.singular))
        assert p.object == noun.singular and p.count == 1
    for g in vocab.GENDERS:
        for a in vocab.AGE_GROUPS:
            for h in vocab.HAIR_COLOURS:
                for s in vocab.SKIN_TONES:
                    assert parse_caption(person_caption(s, h, a, g)).person == (s, h, a, g)


def test_count_answer():
    e = CountAnswer(count=3, object="cherry")
    assert match("3 cherries", e) == "correct"
    assert match("three cherry", e) == "correct"
    assert match("2 cherries", e) == "wrong"
    assert match("3 apples", e) == "wrong"
    assert match("Error", e) == "wrong"
    assert match(None, e) == "error"
    assert match("gibberish", e) == "error"
    one = CountAnswer(count=1, object="banana")
    assert match("Fruit: banana", one) == "correct"
    assert match("1 banana", one) == "correct"


def test_object_answer_accepts_any_positive_count():
    e = ObjectAnswer(object="chair")
    assert match("1 chair", e) == "correct"
    assert match("7 chairs", e) == "correct"
    assert match("0 chairs", e) == "wrong"
    assert match("2 cups", e) == "wrong"
    assert match("Person: dark; red; kid; female", e) == "wrong"


def test_fruit_and_flower_answers():
    f = FruitAnswer(fruit="banana")
    assert match("Fruit: banana", f) == "correct"
    assert match("1 banana", f) == "correct"
    assert match("2 bananas", f) == "correct"
    assert match("Fruit: lemon", f) == "wrong"
    assert match("Flower: rose", f) == "wrong"
    fl = FlowerAnswer(flower="rose")
    assert match("Flower: rose", fl) == "correct"
    assert match("1 rose", fl) == "correct"
    assert match("Flower: tulip", fl) == "wrong"


def test_person_answer_needs_all_four_attributes():
    assert match("Person: dark; red; kid; female", PERSON) == "correct"
    assert match("Person: brown; ginger; child; girl", PERSON) == "correct"
    for wrong in (
        "Person: light; red; kid; female",
        "Person: dark; black; kid; female",
        "Person: dark; red; old; female",
        "Person: dark; red; kid; male",
        "3 apples",
    ):
        assert match(wrong, PERSON) == "wrong"


def test_verdict_for():
    e = CountAnswer(count=2, object="cup")
    assert verdict_for(None, e, has_image=False) == "missing"
    assert verdict_for(Caption("2 cups"), e, has_image=False) == "missing"
    assert verdict_for(None, e, has_image=True) == "error"
    assert verdict_for(Caption(None, error="timeout"), e, has_image=True) == "error"
    assert verdict_for(Caption("2 cups"), e, has_image=True) == "correct"
    assert verdict_for(Caption("Error"), e, has_image=True) == "wrong"


def test_answer_caption_matches_its_answer():
    for a in (
        CountAnswer(count=4, object="hat"),
        ObjectAnswer(object="kite"),
        PERSON,
        FruitAnswer(fruit="pear"),
        FlowerAnswer(flower="violet"),
    ):
        assert match(answer_caption(a), a) == "correct"


def test_objects_outside_the_vocabulary_follow_english():
    pair = CountAnswer(count=4, object="pair of socks")
    assert match("4 pairs of socks", pair) == "correct"
    assert match("8 socks", pair) == "wrong"  # a pair is what is counted
    assert match("4 socks", pair) == "wrong"
    bear = CountAnswer(count=2, object="teddy bear")
    assert match("2 teddy bears", bear) == match("two teddy bears.", bear) == "correct"
    assert match("2 bears", bear) == "wrong" and match("3 teddy bears", bear) == "wrong"
    assert match("3 mice", CountAnswer(count=3, object="mouse")) == "correct"
    phone = ObjectAnswer(object="phone")
    assert match("1 telephone", phone) == match("2 smartphones", phone) == "correct"  # listed synonyms
    assert match("1 camera", phone) == "wrong" and match("1 cup", phone) == "wrong"
    # Vocabulary objects keep their exact keys: a listed word never matches another listed object.
    assert match("2 mugs", CountAnswer(count=2, object="cup")) == "correct"
    assert match("2 coins", CountAnswer(count=2, object="cup")) == "wrong"
    assert (
        count_caption(2, "teddy bear") == "2 teddy bears"
        and count_caption(1, "pair of socks") == "1 pair of socks"
    )
    assert answer_caption(pair) == "4 pairs of socks" and match(answer_caption(bear), bear) == "correct"
