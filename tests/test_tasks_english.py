"""English noun matching: plurals (regular, irregular, invariant), compounds, "pairs of", articles,
number words, and synonyms only from the listed groups."""

import pytest

from unisandbox.tasks.english import (
    SYNONYMS,
    noun_key,
    same_noun,
    singular,
    singular_phrase,
    split_count,
)


@pytest.mark.parametrize(
    "plural,single",
    [
        ("cups", "cup"),
        ("boxes", "box"),
        ("watches", "watch"),
        ("brushes", "brush"),
        ("cherries", "cherry"),
        ("cookies", "cookie"),
        ("movies", "movie"),
        ("ties", "tie"),
        ("leaves", "leaf"),
        ("knives", "knife"),
        ("scarves", "scarf"),
        ("bookshelves", "bookshelf"),
        ("mice", "mouse"),
        ("geese", "goose"),
        ("people", "person"),
        ("children", "child"),
        ("teeth", "tooth"),
        ("potatoes", "potato"),
        ("buses", "bus"),
        ("canvases", "canvas"),
        ("dresses", "dress"),
        ("fish", "fish"),
        ("sheep", "sheep"),
        ("glasses", "glasses"),
        ("houses", "house"),
        ("vases", "vase"),
        ("horses", "horse"),
        ("candies", "candy"),
    ],
)
def test_singular(plural, single):
    assert singular(plural) == single
    assert same_noun(plural, single) and same_noun(single, plural)


@pytest.mark.parametrize(
    "a,b",
    [
        ("teddy bears", "a teddy bear"),
        ("Teddy Bears.", "teddy bear"),
        ("the spoons", "spoon"),
        ("an umbrella", "umbrellas"),
        ("pairs of socks", "a pair of socks"),
        ("4 pairs of socks", "pair of sock"),
        ("mugs", "cup"),
        ("bikes", "bicycle"),
        ("TV", "television"),
        ("couch", "sofa"),
        ("smartphone", "phone"),
    ],
)
def test_same(a, b):
    assert same_noun(a, b)


@pytest.mark.parametrize(
    "a,b",
    [
        ("pairs of socks", "socks"),
        ("teddy bears", "bears"),
        ("cat", "dog"),
        ("glasses", "glass"),
        ("cup", "plate"),
        ("polar bear", "teddy bear"),
        ("", "cup"),
        ("phone", "camera"),
    ],
)
def test_different(a, b):
    assert not same_noun(a, b)


def test_keys_and_display():
    assert noun_key("Teddy Bears.") == "teddy bear"
    assert noun_key("pairs of socks") == "pair of sock"
    assert singular_phrase("pairs of socks") == "pair of socks"
    assert singular_phrase("the teddy bears") == "teddy bear"


@pytest.mark.parametrize(
    "text,got",
    [
        ("4 pairs of socks", (4, "pairs of socks")),
        ("three mice", (3, "mice")),
        ("a dozen eggs", (12, "eggs")),
        ("2 teddy bears.", (2, "teddy bears")),
        ("an apple", (1, "apple")),
        ("a pair of socks", (1, "pair of socks")),
        ("Twelve cups", (12, "cups")),
        ("cups", None),
        ("3", None),
    ],
)
def test_split_count(text, got):
    assert split_count(text) == got


def test_synonym_groups_are_singular_keys_and_only_they_match():
    for group in SYNONYMS:
        for word in group:
            assert noun_key(word) == word, word
            assert all(same_noun(word, other) for other in group)
    # Words that are not in a group never match a different word, however close in meaning.
    assert not same_noun("puppy", "dog") and not same_noun("kitten", "cat") and not same_noun("lamp", "light")
