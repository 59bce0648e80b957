"""CLI commands: `unisandbox sandbox train` and `unisandbox sandbox eval` (the embedded sandbox model)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from unisandbox.cli.errors import exit_error

sandbox_app = typer.Typer(
    help="The embedded sandbox unified model: pretrain it, evaluate it.", no_args_is_help=True
)

ARCHES = ("shared", "query")
PROFILES = ("full", "quick")


@sandbox_app.command("train")
def train_cmd(
    *,
    arch: Annotated[
        str, typer.Option(help="shared (one transformer) or query (frozen LM + queries + decoder).")
    ] = "shared",
    profile: Annotated[
        str, typer.Option(help="full (shipped checkpoints, <= 30 min on 2 CPU cores) or quick.")
    ] = "full",
    out: Annotated[Path, typer.Option(help="Checkpoint directory to write.")],
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of data generation, initialisation and batch order.")
    ] = 0,
    steps: Annotated[int | None, typer.Option(min=1, help="Override the profile's step count.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda if available).")] = None,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for torch.")] = 2,
    # typer builds a new list on every call, so the mutable default is never shared
    settings: Annotated[
        list[str],
        typer.Option(
            "--set",
            help="Override any training setting: KEY=VALUE, KEY a "
            "dotted path (model.rope=true, mixture.rule_format=adjacent, "
            "weights.und=0.3), VALUE JSON; repeatable; recorded in config.json.",
        ),
    ] = [],  # noqa: B006
    init_lm: Annotated[
        Path | None,
        typer.Option(
            help="Query arch: reuse the frozen LM of this query checkpoint "
            "(same seed and profile) and train only queries + decoder.",
        ),
    ] = None,
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
    arch: Annotated[str, typer.Option(help="Architecture of the shipped checkpoint to load.")] = "shared",
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint directory (default: shipped).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Use only the first N items per task and level.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda if available).")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    seed: Annotated[
        int, typer.Option(min=0, help="Base seed of image sampling (per-sample seeds derive from it).")
    ] = 0,
    temperature: Annotated[
        float | None,
        typer.Option(min=0.0, help="Image-code sampling temperature (default: the checkpoint's)."),
    ] = None,
    validation_seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Evaluate on fresh test-split items of "
            "this seed instead of the official split (choose settings "
            "without looking at it).",
        ),
    ] = None,
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
