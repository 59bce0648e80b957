"""A tiny, real "model" for the command adapter: it draws dots with PIL. Use it as a template.

    unisandbox run --model command:examples/pil_command.py --no-probes --limit 2

Contract (see src/unisandbox/models/command.py):
  --input FILE    JSONL, one line per sample: {"id", "item_id", "prompt", "mode", "think", "seed"}
  --outdir DIR    write DIR/<id>.png for every line; in think mode also DIR/<id>.json
                  {"text": reasoning, "rewritten_prompt": what was drawn}
  --understand    instead: --input holds {"id", "question", "prompt"}; write --output as JSONL
                  {"id", "text"} (the adapter parses the "Answer:" line)

Behaviour, chosen to mimic the gap the benchmark measures: in normal mode it draws as many dots as the
first number written in the prompt (it reads, it does not compute); in think mode and for questions it
evaluates the first "a op b" expression it finds. Dot positions come from the sample's seed only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from PIL import Image, ImageDraw

EXPR = re.compile(r"(\d+)\s*([-+*/x×÷])\s*(\d+)")
OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "x": lambda a, b: a * b,
    "×": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else float("nan"),
    "÷": lambda a, b: a / b if b else float("nan"),
}


def solve(text: str) -> tuple[int | None, str]:
    """The value of the first `a op b` in `text`, with the working, or (None, reason)."""
    m = EXPR.search(text)
    if not m:
        return None, "I found no calculation."
    a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
    value = OPS[op](a, b)
    if value != value or value != int(value):
        return None, f"{a} {op} {b} is not a whole number."
    return int(value), f"{a} {op} {b} = {int(value)}."


def first_number(text: str) -> int:
    m = re.search(r"\d+", text)
    return int(m.group()) if m else 1


def draw(n: int, seed: int, size: int = 96) -> Image.Image:
    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    cells = [(r, c) for r in range(4) for c in range(4)]
    rng.shuffle(cells)
    for r, c in cells[: max(0, min(n, 16))]:
        x, y = c * 24 + 4 + rng.randint(0, 3), r * 24 + 4 + rng.randint(0, 3)
        d.ellipse([x, y, x + 14, y + 14], fill="black")
    return img


def generate(inp: Path, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    for line in inp.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec["think"]:
            value, working = solve(rec["prompt"])
            n = value if value is not None else first_number(rec["prompt"])
            rewritten = f"{n} dots"
            (outdir / f"{rec['id']}.json").write_text(
                json.dumps({"text": f"{working}\nPrompt: {rewritten}", "rewritten_prompt": rewritten}),
                encoding="utf-8",
            )
        else:
            n = first_number(rec["prompt"])
        draw(n, int(rec["seed"])).save(outdir / f"{rec['id']}.png")


def understand(inp: Path, output: Path) -> None:
    lines = []
    for line in inp.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            value, working = solve(rec["question"])
            answer = str(value) if value is not None else "unknown"
            lines.append(json.dumps({"id": rec["id"], "text": f"{working}\nAnswer: {answer}"}) + "\n")
    output.write_text("".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, required=True)
    ap.add_argument("--outdir", type=Path)
    ap.add_argument("--understand", action="store_true")
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    if args.understand:
        if args.output is None:
            ap.error("--understand needs --output")
        understand(args.input, args.output)
    else:
        if args.outdir is None:
            ap.error("--outdir is required")
        generate(args.input, args.outdir)


if __name__ == "__main__":
    main()
