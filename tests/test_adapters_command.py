"""The command adapter running real programs: the example PIL script and small failing scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from adapters_tiny import make_item
from unisandbox.models.base import CapabilityError, UnifiedModel, require
from unisandbox.registry import load_model
from unisandbox.tasks.base import InputError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pil_command.py"
UNDERSTAND = "{python} {script} --understand --input {input} --output {output}"


def dark_blobs(image) -> int:
    """Count the example's dots: connected dark regions (dots never touch: one per 24 px cell)."""
    import numpy as np

    a = np.asarray(image.convert("L")) < 128
    seen = np.zeros_like(a)
    count = 0
    for y, x in zip(*np.nonzero(a), strict=True):
        if seen[y, x]:
            continue
        count += 1
        stack = [(y, x)]
        while stack:
            cy, cx = stack.pop()
            if 0 <= cy < a.shape[0] and 0 <= cx < a.shape[1] and a[cy, cx] and not seen[cy, cx]:
                seen[cy, cx] = True
                stack += [(cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)]
    return count


def test_script_spec_generates_normal_and_think(tmp_path):
    model = load_model(f"command:{EXAMPLE}")
    assert (
        isinstance(model, UnifiedModel) and model.capabilities.thinks and not model.capabilities.understands
    )
    items = [make_item(1, "Generate as many cups as the result of 8 / 4."), make_item(2, "Draw 3 + 2 stars.")]
    normal = model.generate(items, "normal", [1, 2])
    assert [dark_blobs(g.image) for g in normal] == [8, 3]  # normal mode reads the first number
    think = model.generate(items, "think", [1, 2])
    assert [dark_blobs(g.image) for g in think] == [2, 5]  # think mode computes first
    assert think[0].rewritten_prompt == "2 dots" and "8 / 4 = 2" in think[0].text
    again = model.generate(items[:1], "normal", [1])
    assert again[0].image.tobytes() == normal[0].image.tobytes()
    assert model.generate(items[:1], "normal", [9])[0].image.tobytes() != normal[0].image.tobytes()
    d = model.describe()
    assert d["script_sha256"] and d["spec"] == f"command:{EXAMPLE}"
    json.dumps(d)


def test_repeated_items_get_distinct_files():
    model = load_model(f"command:{EXAMPLE}")
    it = make_item(1, "4 apples")
    out = model.generate([it, it, it], "normal", [1, 2, 3])
    assert all(dark_blobs(g.image) == 4 for g in out)
    assert len({g.image.tobytes() for g in out}) == 3


def test_understanding_command(tmp_path):
    model = load_model(f"command:{EXAMPLE}", understand_cmd=UNDERSTAND)
    assert model.capabilities.understands
    out = model.understand(["What is 8 / 4?", "What is 3 * 3?", "Which object does A stand for?"])
    assert [u.answer for u in out] == ["2", "9", "unknown"]
    assert "8 / 4 = 2" in out[0].text


def write_script(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / name
    p.write_text(
        "import json, sys, pathlib\n"
        "args = dict(zip(sys.argv[1::2], sys.argv[2::2]))\n"
        "inp, out = pathlib.Path(args['--input']), pathlib.Path(args['--outdir'])\n"
        "recs = [json.loads(l) for l in inp.read_text().splitlines() if l.strip()]\n" + body
    )
    return p


def test_missing_and_broken_images_are_errors_not_drops(tmp_path):
    script = write_script(
        tmp_path,
        "half.py",
        (
            "from PIL import Image\n"
            "Image.new('RGB', (8, 8)).save(out / (recs[0]['id'] + '.png'))\n"
            "(out / (recs[1]['id'] + '.png')).write_bytes(b'garbage')\n"
        ),
    )
    model = load_model(f"command:{script}")
    out = model.generate([make_item(1, "a"), make_item(2, "b"), make_item(3, "c")], "normal", [1, 2, 3])
    assert out[0].image is not None and out[0].error is None
    assert out[1].image is None and "not a readable image" in out[1].error
    assert out[2].image is None and "no math-l1-0003.png written" in out[2].error


def test_crash_reports_status_and_stderr(tmp_path):
    script = write_script(tmp_path, "crash.py", "sys.stderr.write('CUDA out of memory\\n'); sys.exit(3)\n")
    model = load_model(f"command:{script}")
    (g,) = model.generate([make_item(1, "a")], "normal", [1])
    assert g.image is None and "status 3" in g.error and "CUDA out of memory" in g.error


def test_timeout(tmp_path):
    script = write_script(tmp_path, "slow.py", "import time; time.sleep(30)\n")
    model = load_model(f"command:{script}", timeout="1")
    (g,) = model.generate([make_item(1, "a")], "normal", [1])
    assert g.image is None and "timed out after 1 s" in g.error


def test_cmd_template_and_thinks_false(tmp_path):
    cmd = f"{sys.executable} {EXAMPLE} --input {{input}} --outdir {{outdir}}"
    model = load_model("command", cmd=cmd, thinks="false")
    (g,) = model.generate([make_item(1, "2 cups")], "normal", [4])
    assert dark_blobs(g.image) == 2
    with pytest.raises(CapabilityError):
        require(model, mode="think")
    with pytest.raises(CapabilityError):
        model.generate([make_item(1, "2 cups")], "think", [4])


def test_bad_specs(tmp_path):
    with pytest.raises(InputError, match="needs a program"):
        load_model("command")
    with pytest.raises(InputError, match="is not a file"):
        load_model(f"command:{tmp_path / 'missing.py'}")
    with pytest.raises(InputError, match="not found"):
        load_model("command", cmd="no-such-program-xyz {input} {outdir}")
    with pytest.raises(InputError, match="unknown placeholder"):
        load_model(f"command:{EXAMPLE}", cmd="{python} {script} {inptu}")


def test_bagel_recipe_refuses_clearly_without_bagel(tmp_path, monkeypatch):
    """The BAGEL recipe cannot run here (no code, weights or GPU): it must say so, per sample, not crash."""
    bagel = EXAMPLE.parent / "bagel_command.py"
    monkeypatch.setenv("BAGEL_REPO", str(tmp_path / "no-bagel-clone"))
    monkeypatch.setenv("BAGEL_MODEL_PATH", str(tmp_path / "no-weights"))
    model = load_model(f"command:{bagel}")
    out = model.generate([make_item(1, "2 cups"), make_item(2, "3 cups")], "think", [1, 2])
    for g in out:
        assert g.image is None and "status 2" in g.error
        assert "BAGEL's code was not found" in g.error and "ByteDance-Seed/Bagel" in g.error
