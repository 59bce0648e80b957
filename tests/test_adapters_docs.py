"""docs/evaluate-your-model.md is parsed, not copied: its runnable commands run, the others are checked.

- A ```bash block preceded by `<!-- runnable -->` (optionally `<!-- runnable expect="text" -->`) is run
  command by command in a scratch directory holding a link to `examples/`; each must exit 0 and print
  `text` (whitespace-normalised) when given.
- Every other `unisandbox ...` command of the guide (also under `torchrun ... -m unisandbox`) must name
  an existing subcommand and existing flags, and its `--model` / `--model-option` pairs must be accepted
  by the adapter: no unknown option, no unknown placeholder. Missing weights are fine here.
- Every inline `--model-option KEY=VALUE` of the prose names an option some adapter knows; `cmd` and
  `understand_cmd` templates use only the command adapter's placeholders.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from unisandbox.registry import load_model
from unisandbox.tasks.base import InputError

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "evaluate-your-model.md"
PIL_SCRIPT = ROOT / "examples" / "pil_command.py"
BLOCK = re.compile(r"(?:<!--\s*runnable(?:\s+expect=\"([^\"]*)\")?\s*-->\s*\n)?```bash\n(.*?)```", re.S)
INLINE_OPTION = re.compile(r"`--model-option ([^`]+)`")
REFUSALS = ("unknown option", "unknown placeholder")


def blocks() -> list[tuple[bool, str | None, str]]:
    """(runnable, expected output, text) of each bash block of the guide, in order."""
    return [
        (m.group(0).startswith("<!--"), m.group(1), m.group(2)) for m in BLOCK.finditer(GUIDE.read_text())
    ]


def commands(text: str) -> list[list[str]]:
    """The argument lists of a bash block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n", " ", text)
    return [args for line in joined.splitlines() if (args := shlex.split(line, comments=True))]


def unisandbox_args(args: list[str]) -> list[str] | None:
    """The arguments after `unisandbox` (or `-m unisandbox`), or None for another program."""
    if args[0] == "unisandbox":
        return args[1:]
    for i in range(len(args) - 1):
        if args[i] == "-m" and args[i + 1] == "unisandbox":
            return args[i + 2 :]
    return None


RUNNABLE = [(expect, cmd) for runnable, expect, text in blocks() if runnable for cmd in commands(text)]


def test_the_guide_marks_runnable_commands():
    assert len(RUNNABLE) >= 2, "the guide lost its runnable blocks"
    assert all(unisandbox_args(cmd) is not None for _, cmd in RUNNABLE)


@pytest.mark.parametrize(("expect", "cmd"), RUNNABLE, ids=[" ".join(c[:3]) for _, c in RUNNABLE])
def test_runnable_command(tmp_path, expect, cmd):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    proc = subprocess.run(
        [sys.executable, "-m", "unisandbox", *unisandbox_args(cmd)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    if expect:
        assert " ".join(expect.split()) in " ".join(proc.stdout.split()), proc.stdout[-3000:]


def cli_options() -> dict[str, set[str]]:
    import typer

    from unisandbox.cli import app

    group = typer.main.get_command(app)
    return {
        name: {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        for name, cmd in group.commands.items()
    }


def accepted(spec: str, options: dict[str, str]) -> str | None:
    """None if the adapter accepts these option names and templates, else its refusal."""
    try:
        load_model(spec, **options)
    except InputError as e:
        if any(r in str(e) for r in REFUSALS):
            return str(e)
    return None


def test_every_unisandbox_command_matches_the_cli_and_adapters(monkeypatch):
    monkeypatch.chdir(ROOT)
    known = cli_options()
    checked = 0
    for _, _, text in blocks():
        for cmd in commands(text):
            args = unisandbox_args(cmd)
            if args is None:
                continue
            sub, rest = args[0], args[1:]
            assert sub in known, f"unisandbox {sub}: no such subcommand"
            flags = [a.split("=", 1)[0] for a in rest if a.startswith("--")]
            assert set(flags) <= known[sub], f"unisandbox {sub}: unknown flags {set(flags) - known[sub]}"
            spec = rest[rest.index("--model") + 1] if "--model" in rest else None
            if spec is not None and not spec.split(":")[0].isupper():  # `--model SPEC` is the syntax itself
                opts = dict(rest[i + 1].split("=", 1) for i, a in enumerate(rest) if a == "--model-option")
                assert accepted(spec, opts) is None, f"{' '.join(cmd)}: {accepted(spec, opts)}"
            checked += 1
    assert checked >= 8


def test_inline_model_options_are_known(tmp_path):
    specs = [f"janus:{tmp_path}", f"diffusers:{tmp_path}", "openai:m", f"command:{PIL_SCRIPT}"]
    found = INLINE_OPTION.findall(GUIDE.read_text())
    assert len(found) >= 4
    for text in found:
        key, value = shlex.split(text)[0].split("=", 1)
        if key.isupper():  # the syntax itself: `--model-option KEY=VALUE`
            continue
        if key in ("cmd", "understand_cmd"):
            assert accepted(f"command:{PIL_SCRIPT}", {key: value}) is None, text
        else:
            assert any(accepted(spec, {key: value}) is None for spec in specs), f"no adapter knows {text!r}"


def test_the_checker_catches_drift(tmp_path):
    """The checks above can fail: a stale placeholder and a misspelt option are refused."""
    assert "unknown placeholder" in accepted(
        f"command:{PIL_SCRIPT}", {"understand_cmd": "x {input} {outdir}"}
    )
    assert "unknown option" in accepted(f"diffusers:{tmp_path}", {"ofload": "model"})
    assert "--no-probes" in cli_options()["run"]
