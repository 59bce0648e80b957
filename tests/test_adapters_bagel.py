"""examples/bagel_command.py through the command adapter's `cmd=` option, against a stub of BAGEL's code.

The stub (tests/bagel_stub.py) has BAGEL's import layout, so the recipe's imports and calls run unchanged:
these tests check its refusals (missing flash_attn, a missing BAGEL module, a missing package, missing
weights), that both checkpoint file names load, and the options that restore the study's settings.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("accelerate")

from adapters_tiny import make_item  # noqa: E402
from bagel_stub import write_flash_attn, write_gpu_double, write_stub_repo, write_weights  # noqa: E402
from unisandbox.registry import load_model  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "bagel_command.py"
CMD = "{python} {script} --input {input} --outdir {outdir}"
EMA, TRAINED = 0.25, 0.75  # the lm_head value stored in ema.safetensors / model.safetensors


@pytest.fixture
def bagel(tmp_path, monkeypatch):
    """A stub clone, a GPU double and flash_attn on PYTHONPATH, and weights with both checkpoint files."""
    repo = write_stub_repo(tmp_path / "Bagel")
    site = write_gpu_double(write_flash_attn(tmp_path / "site"))
    weights = write_weights(tmp_path / "BAGEL-7B-MoT", {"ema.safetensors": EMA, "model.safetensors": TRAINED})
    monkeypatch.setenv("BAGEL_REPO", str(repo))
    monkeypatch.setenv("BAGEL_MODEL_PATH", str(weights))
    monkeypatch.delenv("BAGEL_CHECKPOINT", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return {"repo": repo, "site": site, "weights": weights}


def run(cmd: str = CMD, mode: str = "normal", seeds=(1, 2), prompts=("2 cups", "3 cups")):
    model = load_model(f"command:{SCRIPT}", cmd=cmd)
    items = [make_item(i, p) for i, p in enumerate(prompts, start=1)]
    return model.generate(items, mode, list(seeds))


def red(image) -> int:
    return image.getpixel((5, 5))[0]


def green(image):
    import numpy as np

    return np.asarray(image)[..., 1]


def calls(repo: Path) -> list[dict]:
    return [json.loads(line) for line in (repo / "calls.jsonl").read_text().splitlines()]


def test_without_flash_attn_the_error_names_it_and_its_install(bagel, monkeypatch):
    (bagel["site"] / "flash_attn" / "__init__.py").unlink()
    (bagel["site"] / "flash_attn").rmdir()
    if importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash_attn is installed here")
    for g in run():
        assert g.image is None and "status 2" in g.error
        assert (
            "imports flash_attn" in g.error
            and "pip install flash_attn==2.5.8 --no-build-isolation" in g.error
        )


def test_a_missing_bagel_module_is_named(bagel):
    (bagel["repo"] / "data" / "transforms.py").unlink()
    (g, _) = run()
    assert g.image is None and "BAGEL's module 'data.transforms' is missing" in g.error


def test_a_missing_package_points_at_bagels_environment(bagel):
    if importlib.util.find_spec("decord") is not None:
        pytest.skip("decord is installed here")
    write_stub_repo(bagel["repo"], extra_import="import decord  # noqa: F401")
    (g, _) = run()
    assert g.image is None and "needs the module 'decord'" in g.error and "own environment" in g.error


def test_missing_weights_are_named(bagel):
    for name in ("ema.safetensors", "model.safetensors"):
        (bagel["weights"] / name).unlink()
    (g, _) = run()
    assert g.image is None and "has no ema.safetensors or model.safetensors" in g.error


@pytest.mark.parametrize(("keep", "value"), [("ema.safetensors", EMA), ("model.safetensors", TRAINED)])
def test_either_checkpoint_file_loads(bagel, keep, value):
    for name in {"ema.safetensors", "model.safetensors"} - {keep}:
        (bagel["weights"] / name).unlink()
    out = run()
    assert all(g.error is None and g.image.size == (12, 12) for g in out), [g.error for g in out]
    assert {red(g.image) for g in out} == {round(value * 255)}


def test_seeds_checkpoint_choice_and_the_study_options(bagel):
    a = run()  # normal mode, seeds 1 and 2
    assert red(a[0].image) == round(EMA * 255)  # ema.safetensors is preferred when both exist
    # Per-sample seeding: a sample's image does not depend on its place in the batch.
    b = run(seeds=(2, 1), prompts=("3 cups", "2 cups"))
    assert b[0].image.tobytes() == a[1].image.tobytes() and b[1].image.tobytes() == a[0].image.tobytes()
    # The study's settings: one seed per process (the second sample then depends on the first), blank
    # borders cropped; think mode's budget is BAGEL's default of 1000 tokens, as in the study.
    n_calls = len(calls(bagel["repo"]))
    c = run(cmd=CMD + " --seed-once --crop-borders --checkpoint model.safetensors", mode="think")
    assert [g.image.size for g in c] == [(8, 8), (8, 8)]
    assert red(c[0].image) == round(TRAINED * 255)
    assert (green(c[0].image) == green(a[0].image.crop((2, 2, 10, 10)))).all()
    assert (green(c[1].image) != green(a[1].image.crop((2, 2, 10, 10)))).any()
    assert c[0].text.startswith("<think>plan for 2 cups") and c[0].rewritten_prompt == "2 cups"
    assert [k["max_think_token_n"] for k in calls(bagel["repo"])[n_calls:]] == [1000, 1000]


def test_understanding_through_understand_cmd(bagel):
    model = load_model(
        f"command:{SCRIPT}",
        cmd=CMD,
        understand_cmd="{python} {script} --understand --input {input} --output {output}",
    )
    (u,) = model.understand(["What is 8 / 4?"])
    assert u.answer == "2"
    (call,) = calls(bagel["repo"])
    assert call["understanding_output"] is True and call["max_think_token_n"] == 1000
