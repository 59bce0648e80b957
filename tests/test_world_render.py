import itertools

import numpy as np
import pytest

from unisandbox.tasks.base import CountAnswer, FlowerAnswer, FruitAnswer, ObjectAnswer, PersonAnswer
from unisandbox.world import vocab
from unisandbox.world.blobs import label
from unisandbox.world.icons import DRAWERS
from unisandbox.world.render import (
    BACKGROUND,
    CELL,
    GRID,
    IMAGE_SIZE,
    canonical_icon,
    decode_png,
    encode_png,
    icon_rgba,
    render_answer,
    render_mixed,
    render_portrait,
    render_scene,
    render_single,
)

NAMES = [n.singular for n in vocab.ALL_NOUNS]
PEOPLE = list(itertools.product(vocab.GENDERS, vocab.AGE_GROUPS, vocab.HAIR_COLOURS, vocab.SKIN_TONES))


def _fg(img: np.ndarray) -> np.ndarray:
    return (img != np.array(BACKGROUND, np.uint8)).any(axis=2)


def test_every_vocabulary_entry_has_an_icon():
    assert set(DRAWERS) == set(NAMES)
    assert len(NAMES) == 52


@pytest.mark.parametrize("scale", [0.55, 0.8, 1.0, 1.2, 1.6, 2.3])
def test_each_icon_is_one_connected_shape(scale):
    for name in NAMES:
        icon = icon_rgba(name, scale)
        _, n = label(icon[:, :, 3] > 0)
        assert n == 1, (name, scale, n)
        assert max(icon.shape[:2]) <= int(np.ceil(12 * scale)) + 1


def test_icon_colours_stand_out_from_the_background():
    # Free style shifts colours by up to 10 per channel; foreground needs a difference above 18.
    for name in NAMES:
        icon = icon_rgba(name, 2.0)
        colours = icon[icon[:, :, 3] > 0][:, :3].astype(int)
        assert np.abs(colours - np.array(BACKGROUND)).max(1).min() >= 35, name


def test_canonical_icons_are_distinct_and_fit_the_unit_box():
    seen = {}
    for name in NAMES:
        icon = canonical_icon(name)
        assert icon.shape == (12, 12, 4)
        h = icon.tobytes()
        assert h not in seen, (name, seen.get(h))
        seen[h] = name
        assert 10 <= max(np.ptp(np.nonzero(icon[:, :, 3])[k]) + 1 for k in (0, 1)) <= 12


@pytest.mark.parametrize("style", ["free", "grid", "tally"])
def test_scene_counts_blobs_and_is_deterministic(style):
    for count in range(1, 10):
        for name in ("apple", "cherry", "umbrella", "key", "sunflower"):
            img = render_scene(name, count, np.random.default_rng(count), style)
            assert img.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and img.dtype == np.uint8
            assert label(_fg(img))[1] == count, (name, count, style)
            again = render_scene(name, count, np.random.default_rng(count), style)
            assert np.array_equal(img, again)


def test_free_style_varies_with_seed():
    a = render_scene("star", 3, np.random.default_rng(1))
    b = render_scene("star", 3, np.random.default_rng(2))
    assert not np.array_equal(a, b)


def test_grid_style_keeps_each_icon_inside_one_cell():
    rng = np.random.default_rng(7)
    for _ in range(200):
        name = NAMES[int(rng.integers(len(NAMES)))]
        count = int(rng.integers(1, 10))
        img = render_scene(name, count, rng, "grid")
        labels, n = label(_fg(img))
        assert n == count
        cells = set()
        for k in range(1, n + 1):
            ys, xs = np.nonzero(labels == k)
            cy, cx = {y // CELL for y in ys}, {x // CELL for x in xs}
            assert len(cy) == 1 and len(cx) == 1, "an icon crosses a cell border"
            cells.add((cy.pop(), cx.pop()))
        assert len(cells) == count


def test_tally_style_fills_the_first_cells_in_reading_order():
    rng = np.random.default_rng(3)
    for count in range(1, 10):
        name = NAMES[count % len(NAMES)]
        img = render_scene(name, count, rng, "tally")
        blank = render_scene(name, 1, rng, "tally")[2 * CELL :, 2 * CELL :]  # the last cell is empty here
        filled = [
            not np.array_equal(img[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL], blank)
            for r in range(GRID)
            for c in range(GRID)
        ]
        assert filled == [k < count for k in range(GRID * GRID)], (name, count)


def _cells(img: np.ndarray) -> list[bytes]:
    return [
        img[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL].tobytes()
        for r in range(GRID)
        for c in range(GRID)
    ]


def test_grid_world_has_a_small_set_of_cell_patches():
    patches: set[bytes] = set()
    rng = np.random.default_rng(0)
    for name in NAMES:
        for _ in range(60):
            patches.update(_cells(render_scene(name, int(rng.integers(1, 10)), rng, "grid")))
        for _ in range(20):
            patches.update(_cells(render_single(name, rng, "grid")))
    for person in PEOPLE:
        a = render_portrait(*person, np.random.default_rng(1), "grid")
        b = render_portrait(*person, np.random.default_rng(2), "grid")
        assert np.array_equal(a, b), "grid portraits must be canonical"
        patches.update(_cells(a))
    assert len(patches) <= 1500, len(patches)


def test_portraits_differ_for_every_attribute_combination():
    imgs = {p: render_portrait(*p, np.random.default_rng(0), "grid").tobytes() for p in PEOPLE}
    assert len(set(imgs.values())) == 72


def test_mixed_scene_has_all_parts():
    img = render_mixed([("apple", 2), ("cup", 3)], np.random.default_rng(3))
    assert label(_fg(img))[1] == 5


def test_render_answer_draws_every_kind():
    rng = np.random.default_rng(0)
    answers = [
        CountAnswer(count=4, object="hat"),
        ObjectAnswer(object="kite"),
        PersonAnswer(gender="male", age="old", hair="red", skin="dark"),
        FruitAnswer(fruit="pear"),
        FlowerAnswer(flower="rose"),
    ]
    for a in answers:
        for style in ("free", "grid"):
            img = render_answer(a, rng, style)
            assert img.shape == (48, 48, 3) and _fg(img).any()
    assert label(_fg(render_answer(answers[0], rng)))[1] == 4


def test_png_round_trip_and_bad_input():
    img = render_scene("tree", 2, np.random.default_rng(0))
    data = encode_png(img)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(decode_png(data), img)
    assert encode_png(img) == data
    with pytest.raises(ValueError):
        render_scene("unicorn", 2, np.random.default_rng(0))
    with pytest.raises(ValueError):
        render_scene("apple", 10, np.random.default_rng(0))
    with pytest.raises(ValueError):
        render_portrait("female", "teen", "red", "dark", np.random.default_rng(0))
    with pytest.raises(ValueError):
        encode_png(img.astype(np.float32))


def test_label_matches_a_reference_flood_fill():
    rng = np.random.default_rng(5)
    for _ in range(30):
        m = rng.random((20, 20)) < 0.45
        lab, n = label(m)
        # Every labelled pixel's 8-neighbours in the mask share its label; labels cover the mask.
        assert (lab > 0).sum() == m.sum()
        assert set(np.unique(lab[m])) == set(range(1, n + 1))
        for y, x in zip(*np.nonzero(m), strict=True):
            for dy, dx in itertools.product((-1, 0, 1), repeat=2):
                yy, xx = y + dy, x + dx
                if 0 <= yy < 20 and 0 <= xx < 20 and m[yy, xx]:
                    assert lab[yy, xx] == lab[y, x]
        assert n == _flood_count(m)


def _flood_count(m: np.ndarray) -> int:
    seen = np.zeros_like(m)
    n = 0
    for y, x in zip(*np.nonzero(m), strict=True):
        if seen[y, x]:
            continue
        n += 1
        stack = [(y, x)]
        seen[y, x] = True
        while stack:
            a, b = stack.pop()
            for dy, dx in itertools.product((-1, 0, 1), repeat=2):
                c, d = a + dy, b + dx
                if 0 <= c < m.shape[0] and 0 <= d < m.shape[1] and m[c, d] and not seen[c, d]:
                    seen[c, d] = True
                    stack.append((c, d))
    return n
