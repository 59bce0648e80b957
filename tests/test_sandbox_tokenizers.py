import numpy as np
import pytest

from unisandbox.models.sandbox.tokenizers import ImageTokenizer, TextTokenizer, join_words, split_words
from unisandbox.world.render import render_portrait, render_scene


@pytest.fixture(scope="module")
def text_tok():
    return TextTokenizer.build(
        [
            "Generate as many cups as the result of 8 / 4.",
            "answer: 2 cups",
            "The symbol # stands for the letter B.",
            "B -> #",
        ],
        max_number=20,
    )


def test_split_and_join_words():
    assert split_words("Generate 3 cups.") == ["generate", "3", "cups", "."]
    assert split_words("B -> # ; mid-age") == ["b", "->", "#", ";", "mid-age"]
    assert join_words(["answer", ":", "3", "cups"]) == "answer: 3 cups"


def test_in_vocabulary_round_trip(text_tok):
    text = "generate as many cups as the result of 8 / 4."
    ids = text_tok.encode(text)
    assert text_tok.id("<spell>") not in ids
    assert text_tok.decode(ids) == text


def test_out_of_vocabulary_words_are_spelled_and_decoded(text_tok):
    for text in ("zhubira likes cherries", "kvörnu's favourite flower", "число 7"):
        ids = text_tok.encode(text)
        assert text_tok.id("<spell>") in ids
        assert text_tok.decode(ids) == text.lower()


def test_numbers_are_whole_tokens(text_tok):
    assert len(text_tok.encode("17")) == 1
    assert len(text_tok.encode("123")) == 5  # beyond max_number: <spell> 1 2 3 </spell>


def test_json_round_trip(text_tok):
    again = TextTokenizer.from_json(text_tok.to_json())
    assert again.words == text_tok.words
    assert again.encode("8 / 4 = 2") == text_tok.encode("8 / 4 = 2")


def test_split_possessive_spells_a_name_the_same_in_every_form():
    tok = TextTokenizer.build(
        ["Zhubira's favourite fruit is the pear.", "Zhubira is a kid."], split_possessive=True
    )
    assert "'s" in tok.words and "zhubira" in tok.words  # built from split words
    plain = TextTokenizer(tuple(w for w in tok.words if w != "zhubira"), split_possessive=True)
    name = plain.encode("Zhubira")
    assert plain.encode("Zhubira's pear")[: len(name)] == name  # the possessive is a token after the name
    assert plain.decode(plain.encode("zhubira's favourite fruit is the pear.")) == (
        "zhubira's favourite fruit is the pear."
    )
    old = TextTokenizer(plain.words)  # off, as in every checkpoint written before the option
    assert old.encode("Zhubira's pear")[: len(name)] != name


def test_split_possessive_is_written_only_when_on(text_tok):
    assert "split_possessive" not in text_tok.to_json()  # files written without it stay the same
    on = TextTokenizer(text_tok.words, split_possessive=True)
    assert TextTokenizer.from_json(on.to_json()).split_possessive
    assert not TextTokenizer.from_json(text_tok.to_json()).split_possessive
    from unisandbox.models.sandbox.knowledge_mixture import drop_name_words

    assert drop_name_words(on).split_possessive  # the sandbox codec drops name words and keeps the option


def _renders(n, seed):
    rng = np.random.default_rng(seed)
    objs = ["cup", "apple", "star", "tree"]
    out = [render_scene(objs[i % 4], 1 + i % 9, rng, style="grid") for i in range(n)]
    out += [render_portrait("female", "kid", "red", "dark", rng, style="grid")]
    return np.stack(out)


def test_codebook_is_exact_on_grid_renders():
    imgs = _renders(400, 0)
    tok = ImageTokenizer.fit(imgs, merge_shifts=False)
    ids = tok.encode(imgs)
    assert ids.shape == (len(imgs), 9)
    assert (tok.decode(ids) == imgs).all()
    fresh = _renders(50, 1)  # new draws, same world: every patch is already a code
    assert (tok.decode(tok.encode(fresh)) == fresh).all()


def test_merged_codebook_folds_jitter_and_keeps_portraits():
    imgs = _renders(400, 0)
    exact = ImageTokenizer.fit(imgs, merge_shifts=False)
    tok = ImageTokenizer.fit(imgs)
    # 4 icons x 9 jitter positions collapse to 4 codes; the empty cell and portrait parts stay.
    assert tok.size == exact.size - 4 * 8
    ids = tok.encode(imgs)
    assert (tok.encode(tok.decode(ids)) == ids).all()  # decoding gives the canonical copy
    assert (tok.decode(ids)[-1] == imgs[-1]).all()  # the portrait is untouched
    cup_cells = {int(c) for img, row in zip(imgs[0:400:4], ids[0:400:4], strict=True) for c in row}
    assert len(cup_cells) == 2  # every cup cell (any jitter) is one code, plus the empty cell


def test_codebook_nearest_code_for_unseen_patches():
    imgs = _renders(200, 0)
    tok = ImageTokenizer.fit(imgs)
    rng = np.random.default_rng(3)
    noisy = np.clip(imgs[:20].astype(int) + rng.integers(-4, 5, imgs[:20].shape), 0, 255).astype(np.uint8)
    assert (tok.encode(noisy) == tok.encode(imgs[:20])).all()


def test_codebook_kmeans_cap():
    imgs = _renders(300, 0)
    tok = ImageTokenizer.fit(imgs, max_codes=8, seed=0)
    assert tok.size == 8
    assert tok.encode(imgs).max() < 8
