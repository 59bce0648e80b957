import itertools

import numpy as np
import pytest

from unisandbox.judges.base import Judge
from unisandbox.judges.calibrate import calibrate, make_sample, split_counts
from unisandbox.judges.match import count_caption, person_caption, single_caption
from unisandbox.judges.sandbox import SandboxJudge, read_image
from unisandbox.registry import load_judge
from unisandbox.world import negatives, render, vocab

NAMES = [n.singular for n in vocab.ALL_NOUNS]
PEOPLE = list(itertools.product(vocab.GENDERS, vocab.AGE_GROUPS, vocab.HAIR_COLOURS, vocab.SKIN_TONES))


@pytest.fixture(scope="module")
def judge():
    return SandboxJudge()


def test_protocol_and_registry(judge):
    assert isinstance(judge, Judge)
    assert isinstance(load_judge("sandbox"), SandboxJudge)
    d = judge.describe()
    assert d["name"] == "sandbox" and d["version"] >= 1 and len(d["prototypes"]) == 16
    with pytest.raises(ValueError):
        SandboxJudge.from_spec("/some/path")


def test_grid_scenes_every_icon_every_count(judge):
    rng = np.random.default_rng(0)
    for name in NAMES:
        for count in (1, 4, 9):
            img = render.render_scene(name, count, rng, "grid")
            expected = single_caption(name) if count == 1 else count_caption(count, name)
            assert judge.caption_array(img) == expected, (name, count)


def test_grid_portraits_all_72(judge):
    for g, a, h, s in PEOPLE:
        img = render.render_portrait(g, a, h, s, np.random.default_rng(0), "grid")
        assert judge.caption_array(img) == person_caption(s, h, a, g)


def test_free_singles_are_named(judge):
    rng = np.random.default_rng(1)
    for noun in vocab.FRUITS + vocab.FLOWERS:
        for _ in range(3):
            assert judge.caption_array(render.render_single(noun.singular, rng)) == single_caption(
                noun.singular
            )


def test_png_entry_point_and_undecodable_bytes(judge):
    img = render.render_scene("kite", 5, np.random.default_rng(2))
    caps = judge.caption([render.encode_png(img), b"not a png", render.encode_png(render.blank())])
    assert caps[0].text == "5 kites" and caps[0].error is None
    assert caps[1].text is None and "decode" in caps[1].error
    assert caps[2].text == "Error"


@pytest.mark.parametrize("kind", sorted(negatives.NEGATIVES))
def test_each_negative_kind_is_rejected(kind):
    rng = np.random.default_rng(3)
    readings = [read_image(negatives.NEGATIVES[kind](rng)) for _ in range(15)]
    assert sum(r.text == "Error" for r in readings) >= 14, [r for r in readings if r.text != "Error"]


def test_rejections_say_why():
    r = read_image(render.render_mixed([("apple", 2), ("cup", 2)], np.random.default_rng(0)))
    assert r.text == "Error" and "mixed" in r.reason
    assert "blank" in read_image(render.blank()).reason


def test_fused_icons_and_cut_icons_are_not_counted():
    # Two apples touching make one blob that is no icon; a large foreign blob is no icon either.
    img = render.blank()
    icon = render.canonical_icon("apple")
    for x in (10, 19):
        m = icon[:, :, 3] > 0
        img[10:22, x : x + 12][m] = icon[:, :, :3][m]
    from unisandbox.world.blobs import label

    assert label((img != render.BACKGROUND).any(2))[1] == 1
    assert read_image(img).text == "Error"
    img = render.blank()
    img[10:30, 10:30] = (40, 40, 40)
    assert read_image(img).text == "Error"


def test_resized_images_are_read(judge):
    from PIL import Image

    img = render.render_scene("star", 3, np.random.default_rng(4), "grid")
    big = np.asarray(Image.fromarray(img).resize((192, 192), Image.Resampling.NEAREST))
    assert judge.caption_array(big) == "3 stars"


def test_calibration_small_sample():
    # The acceptance run (n=2000) is `unisandbox judge-calibrate --n 2000`; here a quick, seeded sample.
    rep = calibrate(n=240, seed=7)
    s = rep.summary()
    assert s["n"] == 240 and sum(v["n"] for v in s["per_category"].values()) == 240
    assert s["count_type_accuracy"] >= 0.97
    assert s["portrait_accuracy"] >= 0.97
    assert s["fruit_flower_accuracy"] >= 0.97
    assert s["negative_reject_rate"] >= 0.97


def test_calibration_samples_are_reproducible():
    a = make_sample("count_type", 5, seed=1)
    b = make_sample("count_type", 5, seed=1)
    assert np.array_equal(a.image, b.image) and a.expected == b.expected
    assert sum(split_counts(2001).values()) == 2001
