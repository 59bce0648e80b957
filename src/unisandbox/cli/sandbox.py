"""CLI commands: `unisandbox sandbox train` and `unisandbox sandbox eval` (the embedded sandbox model)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from unisandbox.cli.errors import exit_error

sandbox_app = typer.Typer(
    help="The embedded sandbox unified model: pretrain it, evaluate it.", no_args_is_help=True
)

ARCHES = ("shared", "query")
PROFILES = ("full", "quick")


@sandbox_app.command("train")
def train_cmd(
    arch: str = typer.Option(
        "shared", help="shared (one transformer) or query (frozen LM + queries + decoder)."
    ),
    profile: str = typer.Option(
        "full", help="full (shipped checkpoints, <= 30 min on 2 CPU cores) or quick."
    ),
    out: Path = typer.Option(..., help="Checkpoint directory to write."),
    seed: int = typer.Option(0, min=0, help="Seed of data generation, initialisation and batch order."),
    steps: int | None = typer.Option(None, min=1, help="Override the profile's step count."),
    device: str | None = typer.Option(None, help="cpu or cuda (default: cuda if available)."),
    threads: int = typer.Option(2, min=1, help="CPU threads for torch."),
    settings: list[str] = typer.Option(
        [],
        "--set",
        help="Override any training setting: KEY=VALUE, KEY a "
        "dotted path (model.rope=true, mixture.rule_format=adjacent, "
        "weights.und=0.3), VALUE JSON; repeatable; recorded in config.json.",
    ),
    init_lm: Path | None = typer.Option(
        None,
        help="Query arch: reuse the frozen LM of this query checkpoint "
        "(same seed and profile) and train only queries + decoder.",
    ),
) -> None:
    """Pretrain the sandbox model from scratch; writes config.json, model.safetensors, tokenizers, train_log.jsonl."""
    if arch not in ARCHES:
        exit_error(f"--arch must be one of {', '.join(ARCHES)}, got {arch!r}")
    if profile not in PROFILES:
        exit_error(f"--profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    from dataclasses import replace

    from unisandbox.models.sandbox import train

    cfg = train.profile(profile, arch=arch, seed=seed)
    over: dict[str, Any] = {"threads": threads, "device": device}
    if steps is not None:
        over["steps"] = steps
    if init_lm is not None:
        if arch != "query":
            exit_error("--init-lm applies to --arch query only")
        over["init_lm"] = str(init_lm)
    cfg = replace(cfg, **over)
    try:
        cfg = train.with_overrides(cfg, settings)
    except ValueError as e:
        exit_error(str(e))
    train.main(cfg, out, command=["unisandbox", *sys.argv[1:]] if sys.argv else None, echo=typer.echo)


@sandbox_app.command("eval")
def eval_cmd(
    arch: str = typer.Option("shared", help="Architecture of the shipped checkpoint to load."),
    checkpoint: Path | None = typer.Option(None, help="Checkpoint directory (default: shipped)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    limit: int | None = typer.Option(None, min=1, help="Use only the first N items per task and level."),
    device: str | None = typer.Option(None, help="cpu or cuda (default: cuda if available)."),
    batch_size: int = typer.Option(256, min=1),
    seed: int = typer.Option(0, min=0, help="Base seed of image sampling (per-sample seeds derive from it)."),
    temperature: float | None = typer.Option(
        None, min=0.0, help="Image-code sampling temperature (default: the checkpoint's)."
    ),
    validation_seed: int | None = typer.Option(
        None,
        min=0,
        help="Evaluate on fresh test-split items of "
        "this seed instead of the official split (choose settings "
        "without looking at it).",
    ),
) -> None:
    """Evaluate a sandbox checkpoint on the official test split, judged by the sandbox judge."""
    if arch not in ARCHES:
        exit_error(f"--arch must be one of {', '.join(ARCHES)}, got {arch!r}")
    from unisandbox.models.sandbox import evaluate

    where = checkpoint or f"the shipped {arch} checkpoint"
    typer.echo(
        f"sandbox eval: loading {where}, then generating and judging the official test split"
        f"{f' (first {limit} per task and level)' if limit else ''}; this takes a while on a CPU ...",
        err=True,
    )
    try:
        report = evaluate.run_eval(
            arch=arch,
            checkpoint=checkpoint,
            limit=limit,
            device=device,
            batch_size=batch_size,
            base_seed=seed,
            temperature=temperature,
            validation_seed=validation_seed,
        )
    except (FileNotFoundError, ValueError) as e:
        exit_error(str(e))
        return
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        typer.echo(evaluate.format_table(report))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(sandbox_app, name="sandbox")
