"""A user's own program as the model: it reads a JSONL of prompts and writes `<id>.png` files.

This is how the study's release runs models (one inference script per model), so any model with a
script can be evaluated without an adapter in this package:

    unisandbox run --model command:examples/pil_command.py ...
    unisandbox run --model command --model-option cmd="python gen.py --in {input} --out {outdir}" ...

The program is started once per batch, without a shell, with the placeholders filled in:

    {input}   a JSONL file, one line per sample:
              {"id": "<file stem>", "item_id": "...", "prompt": "...", "mode": "normal"|"think",
               "think": false|true, "seed": 123}
    {outdir}  the directory where it must write <id>.png, and in think mode may write <id>.json
              {"text": "<its reasoning>", "rewritten_prompt": "<the prompt it drew>"}
    {python}  the Python running unisandbox;  {script}  the spec's path (command:PATH)

A sample whose PNG is missing or unreadable gets image None and an error that says why (with the end
of the program's stderr when it failed); it is never dropped. Think mode is the program's business: the
mode is in each line, and `--model-option thinks=false` declares a program that has none, so the pipeline
refuses think mode up front.

Understanding (optional): `--model-option understand_cmd="... {input} ... {output}"` gets a JSONL of
{"id", "question", "prompt"} (prompt = the question with our answer-format instruction) and must
write {output} as JSONL of {"id", "answer"} or {"id", "text"} (the answer is then parsed from the
text's `Answer:` line). Without it, `understands` is False.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisandbox.models._text import (
    TEMPLATES_VERSION,
    opt_bool,
    opt_float,
    opt_str,
    parse_answer,
    refuse_unknown,
    understand_prompt,
)
from unisandbox.models.base import MODES, Capabilities, CapabilityError, Generation, Mode, Understanding
from unisandbox.tasks.base import InputError

if TYPE_CHECKING:
    from unisandbox.tasks.base import Item

STDERR_TAIL = 2000


@dataclass(frozen=True)
class CommandSettings:
    """How the program is run (recorded in the manifest)."""

    cmd: str
    """Generation command template ({input}, {outdir}, {python}, {script})."""
    understand_cmd: str | None = None
    """Understanding command template ({input}, {output}, {python}, {script}), or None."""
    script: str | None = None
    """The spec's path (command:PATH), absolute, if any."""
    thinks: bool = True
    """Whether the program supports think mode."""
    timeout: float | None = 86400.0
    """Seconds one run of the program may take; None for no limit."""
    cwd: str | None = None
    """Working directory of the program (default: the current one)."""


def _default_cmd(script: Path) -> str:
    runner = "{python} {script}" if script.suffix == ".py" else "{script}"
    return f"{runner} --input {{input}} --outdir {{outdir}}"


def _fill(template: str, values: dict[str, str]) -> list[str]:
    """Split the template like a shell would, then fill placeholders inside each argument."""
    try:
        args = shlex.split(template)
    except ValueError as e:
        raise InputError(f"command model: cannot parse command {template!r}: {e}") from e
    try:
        return [a.format(**values) for a in args]
    except (KeyError, IndexError) as e:
        raise InputError(
            f"command model: unknown placeholder {e} in {template!r} "
            f"(known: {', '.join('{' + k + '}' for k in values)})"
        ) from e


def _check_program(args: list[str], template: str) -> None:
    prog = args[0] if args else ""
    if not prog or (shutil.which(prog) is None and not Path(prog).is_file()):
        raise InputError(f"command model: program {prog!r} of command {template!r} not found")


class CommandModel:
    """An external program behind the UnifiedModel protocol."""

    def __init__(self, settings: CommandSettings):
        self.settings = settings
        stem = (
            Path(settings.script).stem if settings.script else shlex.split(settings.cmd)[0].rsplit("/", 1)[-1]
        )
        self.name = f"command:{stem}"
        self.capabilities = Capabilities(
            understands=settings.understand_cmd is not None, thinks=settings.thinks, trainable=False
        )

    @classmethod
    def from_spec(cls, path: str | None, **options: Any) -> CommandModel:
        """`CommandModel.from_spec("gen.py")` or `from_spec(None, cmd="prog --in {input} --out {outdir}")`."""
        opts = dict(options)
        script = Path(path).expanduser().resolve() if path else None
        if script is not None and not script.is_file():
            raise InputError(f"command model: {path} is not a file")
        cmd = opt_str(opts, "cmd", None)
        if cmd is None:
            if script is None:
                raise InputError(
                    "command model needs a program: --model command:SCRIPT or "
                    '--model-option cmd="prog --in {input} --out {outdir}"'
                )
            cmd = _default_cmd(script)
        timeout = opt_float(opts, "timeout", 86400.0)
        settings = CommandSettings(
            cmd=cmd,
            understand_cmd=opt_str(opts, "understand_cmd", None),
            script=str(script) if script else None,
            thinks=opt_bool(opts, "thinks", True),
            timeout=timeout if timeout and timeout > 0 else None,
            cwd=opt_str(opts, "cwd", None),
        )
        refuse_unknown("command", opts)
        model = cls(settings)
        # Fail on a typo now, not after the first batch.
        _check_program(model._args(settings.cmd, input="x", outdir="x"), settings.cmd)
        if settings.understand_cmd:
            _check_program(
                model._args(settings.understand_cmd, input="x", output="x"), settings.understand_cmd
            )
        if settings.cwd and not Path(settings.cwd).is_dir():
            raise InputError(f"command model: option 'cwd': {settings.cwd} is not a directory")
        return model

    def describe(self) -> dict[str, Any]:
        """The command templates and script; the script's content hash identifies its version."""
        s = self.settings
        script_hash = None
        if s.script:
            import hashlib

            script_hash = hashlib.sha256(Path(s.script).read_bytes()).hexdigest()[:16]
        return {
            "kind": "command",
            "spec": f"command:{s.script}" if s.script else "command",
            "name": self.name,
            # The timeout is left out: it changes no image, so a resumed run may use another.
            "options": {"cmd": s.cmd, "understand_cmd": s.understand_cmd, "thinks": s.thinks, "cwd": s.cwd},
            "script_sha256": script_hash,
            "templates_version": TEMPLATES_VERSION,
        }

    # ---- protocol ----

    def generate(self, items: Sequence[Item], mode: Mode, seeds: Sequence[int]) -> list[Generation]:
        """Run the program once for the whole batch and read back one PNG per sample, in order."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if len(items) != len(seeds):
            raise ValueError(f"{len(items)} items but {len(seeds)} seeds")
        if mode == "think" and not self.settings.thinks:
            raise CapabilityError(f"model {self.name!r} does not support think mode (thinks=false)")
        ids = _sample_ids(items)
        with tempfile.TemporaryDirectory(prefix="unisandbox-cmd-") as tmp:
            inp, outdir = Path(tmp) / "prompts.jsonl", Path(tmp) / "out"
            outdir.mkdir()
            lines = [
                {
                    "id": sid,
                    "item_id": it.id,
                    "prompt": it.prompt,
                    "mode": mode,
                    "think": mode == "think",
                    "seed": int(seed),
                }
                for sid, it, seed in zip(ids, items, seeds, strict=True)
            ]
            inp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
            failure = self._run(self._args(self.settings.cmd, input=str(inp), outdir=str(outdir)))
            return [self._read(outdir, sid, mode, failure) for sid in ids]

    def understand(self, questions: Sequence[str]) -> list[Understanding]:
        """Run the understanding command once; raise RuntimeError if it fails or skips a question."""
        if self.settings.understand_cmd is None:
            raise CapabilityError(f"model {self.name!r} cannot answer text questions (no understand_cmd)")
        ids = [f"q{i:06d}" for i in range(len(questions))]
        with tempfile.TemporaryDirectory(prefix="unisandbox-cmd-") as tmp:
            inp, output = Path(tmp) / "questions.jsonl", Path(tmp) / "answers.jsonl"
            inp.write_text(
                "".join(
                    json.dumps({"id": i, "question": q, "prompt": understand_prompt(q)}, ensure_ascii=False)
                    + "\n"
                    for i, q in zip(ids, questions, strict=True)
                ),
                encoding="utf-8",
            )
            failure = self._run(self._args(self.settings.understand_cmd, input=str(inp), output=str(output)))
            if failure:
                raise RuntimeError(f"{self.name}: understanding command failed: {failure}")
            answers = _read_answers(output)
        out = []
        for i in ids:
            if i not in answers:
                raise RuntimeError(
                    f"{self.name}: the understanding command wrote no answer for {i} in {output.name}"
                )
            rec = answers[i]
            text = str(rec.get("text") or "")
            answer = rec.get("answer")
            out.append(
                Understanding(
                    answer=str(answer) if answer is not None else parse_answer(text),
                    text=text or str(answer or ""),
                )
            )
        return out

    # ---- internals ----

    def _args(self, template: str, **paths: str) -> list[str]:
        values = {"python": sys.executable, "script": self.settings.script or "", **paths}
        return _fill(template, values)

    def _run(self, args: list[str]) -> str | None:
        """Run the program; None on success, else a one-paragraph reason with the stderr tail."""
        try:
            proc = subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=self.settings.timeout,
                cwd=self.settings.cwd,
                env=os.environ.copy(),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            raw = (e.stderr or b"")[-STDERR_TAIL:]
            tail = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            return f"command timed out after {self.settings.timeout:g} s; stderr: {tail.strip()}"
        except OSError as e:
            return f"command could not start: {e}"
        if proc.returncode != 0:
            return (
                f"command exited with status {proc.returncode}; stderr: {proc.stderr[-STDERR_TAIL:].strip()}"
            )
        return None

    def _read(self, outdir: Path, sid: str, mode: Mode, failure: str | None) -> Generation:
        from PIL import Image, UnidentifiedImageError

        extra: dict[str, Any] = {"templates_version": TEMPLATES_VERSION}
        if failure:
            extra["command_failure"] = failure
        text, rewritten = "", None
        meta = outdir / f"{sid}.json"
        if meta.exists():
            try:
                info = json.loads(meta.read_text(encoding="utf-8"))
                text = str(info.get("text") or "")
                rewritten = info.get("rewritten_prompt")
            except (json.JSONDecodeError, AttributeError, UnicodeDecodeError) as e:
                extra["meta_error"] = f"{meta.name}: {e}"
        png = outdir / f"{sid}.png"
        image, error = None, None
        if not png.exists():
            error = f"no {png.name} written ({failure or 'the program exited normally'})"
        else:
            try:
                with Image.open(png) as img:
                    img.load()
                    image = img.convert("RGB")
            except (UnidentifiedImageError, OSError) as e:
                error = f"{png.name} is not a readable image: {e}"
        return Generation(image=image, text=text, rewritten_prompt=rewritten, error=error, extra=extra)


def _sample_ids(items: Sequence[Item]) -> list[str]:
    """File stems: the item id, with `.s<k>` appended when one item appears several times in a batch."""
    counts: dict[str, int] = {}
    for it in items:
        counts[it.id] = counts.get(it.id, 0) + 1
    seen: dict[str, int] = {}
    ids = []
    for it in items:
        if counts[it.id] == 1:
            ids.append(it.id)
        else:
            k = seen.get(it.id, 0)
            seen[it.id] = k + 1
            ids.append(f"{it.id}.s{k}")
    return ids


def _read_answers(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        raise RuntimeError(f"the understanding command wrote no {path.name}")
    from unisandbox.runs.io import parse_jsonl

    out: dict[str, dict[str, Any]] = {}
    for lineno, rec, problem in parse_jsonl(path.read_text(encoding="utf-8")):
        if rec is None and str(problem).startswith("malformed JSON"):
            raise RuntimeError(f"{path.name}:{lineno}: {problem}")
        if rec is None or "id" not in rec:
            raise RuntimeError(f"{path.name}:{lineno}: field 'id': missing")
        out[str(rec["id"])] = rec
    return out
