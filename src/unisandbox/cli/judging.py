"""CLI commands: `unisandbox judge-calibrate`, `judge-agreement`, `judge-caption`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from unisandbox.cli.errors import exit_error


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def judge_calibrate(
    n: Annotated[int, typer.Option(min=1, help="Number of held-out images in all.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the held-out renders.")] = 12345,
    style: Annotated[
        str, typer.Option(help="free (jittered, default) or grid (what the model trains on).")
    ] = "free",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Render held-out scenes, portraits, fruits, flowers and negatives; report the sandbox judge's accuracy."""
    from unisandbox.judges.calibrate import calibrate

    if style not in ("free", "grid"):
        exit_error(f"--style must be free or grid, got {style!r}")
    summary = calibrate(n=n, seed=seed, style=style).summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(f"sandbox judge calibration: n={summary['n']} seed={seed} style={style}")
    for label, key in (
        ("count and type", "count_type"),
        ("portraits", "portrait"),
        ("fruit / flower", "fruit_flower"),
        ("negatives rejected", "negative"),
    ):
        c = summary["per_category"][key]
        typer.echo(f"  {label:<20} {c['right']:>5}/{c['n']:<5} = {c['right'] / max(c['n'], 1):.4f}")
    typer.echo(
        "  negatives by kind: "
        + ", ".join(f"{k} {v['n'] - v['missed']}/{v['n']}" for k, v in summary["negatives_by_kind"].items())
    )
    if summary["top_confusions"]:
        typer.echo("  confusions (expected -> got):")
        for c in summary["top_confusions"]:
            typer.echo(f"    [{c['category']}] {c['expected']} -> {c['got']}  x{c['count']}")
    if summary["top_reject_reasons"]:
        typer.echo("  why positives were rejected:")
        for r in summary["top_reject_reasons"]:
            typer.echo(f"    [{r['category']}] {r['reason']}  x{r['count']}")


def _verdicts_file(path: Path) -> Path:
    """A verdict file, or a run directory's verdicts.jsonl."""
    if path.is_dir():
        inner = path / "verdicts.jsonl"
        if not inner.is_file():
            exit_error(f"no verdicts.jsonl in this run directory; judge it first ({path})")
        return inner
    return path


def judge_agreement(
    a: Annotated[Path, typer.Argument(help="First verdict JSONL file, or a run directory.")],
    b: Annotated[Path, typer.Argument(help="Second verdict JSONL file, or a run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Agreement and Cohen's kappa between two verdict files (two judges, or one judge twice)."""
    from unisandbox.metrics.agreement import agreement, read_verdicts
    from unisandbox.tasks.base import InputError

    try:
        va, vb = read_verdicts(_verdicts_file(a)), read_verdicts(_verdicts_file(b))
    except InputError as e:
        exit_error(str(e))
    res = agreement(va, vb)
    if as_json:
        typer.echo(json.dumps(res.as_dict(), indent=2))
        return
    typer.echo(f"common samples {res.n_common} (only in A: {res.only_a}, only in B: {res.only_b})")
    typer.echo(f"agreement {_fmt(res.agreement)}  Cohen's kappa {_fmt(res.kappa)}  (all four verdicts)")
    typer.echo(
        f"decided (correct/wrong in both) {res.n_decided}: agreement {_fmt(res.decided_agreement)}"
        f"  kappa {_fmt(res.decided_kappa)}"
    )
    typer.echo("confusion (rows A, columns B): " + json.dumps(res.confusion))


def judge_caption(
    images: Annotated[list[Path], typer.Argument(help="PNG files to caption.")],
    judge: Annotated[
        str, typer.Option("--judge", help="Judge spec: sandbox or vlm[:PROMPT_FILE].")
    ] = "sandbox",
    base_url: Annotated[
        str | None, typer.Option(help="VLM endpoint (else UNISANDBOX_JUDGE_BASE_URL).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="VLM model id (else UNISANDBOX_JUDGE_MODEL).")] = None,
    api_key: Annotated[str | None, typer.Option(help="VLM key (prefer UNISANDBOX_JUDGE_API_KEY).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="VLM caption cache directory.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="VLM requests in flight.")] = 16,
    timeout: Annotated[float, typer.Option(help="VLM request timeout, seconds.")] = 30.0,
) -> None:
    """Caption images blind with a judge and print one JSON line per image.

    "caption" is what the judge saw, in the caption grammar: "Error" there is the judge's reading (no
    valid scene in the image), not a failure. "error" is set only when no caption could be had (the
    call failed), and then "caption" is null."""
    from unisandbox.registry import SpecError, load_judge

    datas = []
    for p in images:
        try:
            datas.append(p.read_bytes())
        except OSError as e:
            exit_error(f"{p}: cannot read: {e}")
    options: dict[str, object] = {}
    if judge.split(":", 1)[0] == "vlm":
        options = {
            "base_url": base_url,
            "model": model,
            "api_key": api_key,
            "cache_dir": cache_dir,
            "concurrency": concurrency,
            "timeout": timeout,
        }
    try:
        j = load_judge(judge, **options)
    except (SpecError, ValueError) as e:
        exit_error(str(e))
    for p, cap in zip(images, j.caption(datas), strict=True):
        line = {"image": str(p), "caption": cap.text, "error": cap.error, "cached": cap.cached}
        if cap.text == "Error":
            line["seen"] = "no valid scene (the caption grammar's 'Error'; not a judge failure)"
        typer.echo(json.dumps(line))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("judge-calibrate")(judge_calibrate)
    app.command("judge-agreement")(judge_agreement)
    app.command("judge-caption")(judge_caption)
