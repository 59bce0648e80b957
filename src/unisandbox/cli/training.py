"""CLI commands: `unisandbox stars`, `unisandbox inject`, `unisandbox study` (training that closes the gap)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unisandbox.cli.errors import exit_error

ARCHES = ("shared", "query")


def _check_arch(arch: str) -> None:
    if arch not in ARCHES:
        exit_error(f"--arch must be one of {', '.join(ARCHES)}, got {arch!r}")


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def stars_cmd(
    out: Annotated[
        Path,
        typer.Option(
            help="Output directory: data/ (stars-data: train items, think-mode run with "
            "PNGs and verdicts; resumed on a rerun), checkpoint/ and stars_report.{json,md}.",
        ),
    ],
    arch: Annotated[str, typer.Option(help="shared or query.")] = "shared",
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint directory (default: the shipped one).")
    ] = None,
    variant: Annotated[
        str, typer.Option(help="curriculum, mixed or unfiltered (no rejection).")
    ] = "curriculum",
    train_items: Annotated[int, typer.Option(min=1, help="Fresh train items per task and level.")] = 300,
    samples: Annotated[int, typer.Option(min=1, help="Think-mode samples per train item (K).")] = 3,
    steps: Annotated[int, typer.Option(min=1, help="Total fine-tuning steps.")] = 600,
    eval_limit: Annotated[
        int | None, typer.Option(min=1, help="Scoring units per level on the test split.")
    ] = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for torch.")] = 2,
) -> None:
    """STARS: sample think mode on held-out-free train items (stars-data), keep what the judge accepts, distil
    into normal mode."""
    _check_arch(arch)
    if variant not in ("curriculum", "mixed", "unfiltered"):
        exit_error(f"--variant must be curriculum, mixed or unfiltered, got {variant!r}")
    from unisandbox.training import stars
    from unisandbox.training.common import init_dist

    _threads(threads)
    d = init_dist()
    cfg = stars.StarsConfig(
        train_items=train_items,
        samples_per_item=samples,
        steps=steps,
        seed=seed,
        filtered=variant != "unfiltered",
        curriculum=variant == "curriculum",
    )
    try:
        report = stars.run(checkpoint, arch, out, cfg, eval_limit, d=d, log=typer.echo)
    except (FileNotFoundError, ValueError) as e:
        exit_error(str(e))
    if report is not None:
        typer.echo(stars.report_markdown(report))


def inject_cmd(
    out: Annotated[Path, typer.Option(help="Output directory: checkpoint/ and inject_report.{json,md}.")],
    arch: Annotated[str, typer.Option(help="shared or query.")] = "shared",
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint directory (default: the shipped one).")
    ] = None,
    steps: Annotated[int, typer.Option(min=1, help="Fine-tuning steps on the knowledge corpus.")] = 600,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for torch.")] = 2,
) -> None:
    """Knowledge injection: text-only fine-tuning on the official corpus; forward/inverse tests, both modes."""
    _check_arch(arch)
    from unisandbox.training import inject
    from unisandbox.training.common import init_dist

    _threads(threads)
    d = init_dist()
    try:
        report = inject.run(
            checkpoint, arch, out, inject.InjectConfig(steps=steps, seed=seed), d=d, log=typer.echo
        )
    except (FileNotFoundError, ValueError) as e:
        exit_error(str(e))
    if report is not None:
        typer.echo(inject.report_markdown(report))


def study_cmd(
    out: Annotated[
        Path, typer.Option(help="Output directory: findings.json, report.md, per-arch runs.")
    ] = Path("study"),
    arch: Annotated[str, typer.Option(help="shared, query or both.")] = "both",
    profile: Annotated[
        str, typer.Option(help="quick (CI, minutes) or full (the README's numbers).")
    ] = "quick",
    checkpoint_shared: Annotated[
        Path | None, typer.Option(help="Shared checkpoint (default: shipped).")
    ] = None,
    checkpoint_query: Annotated[
        Path | None, typer.Option(help="Query checkpoint (default: shipped).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for torch.")] = 2,
    resume: Annotated[
        bool,
        typer.Option(
            help="Reuse architectures already finished in OUT (same profile "
            "and checkpoint), e.g. to combine per-arch runs into one findings table.",
        ),
    ] = False,
) -> None:
    """The whole sandbox replication: gap, think mode, STARS variants, knowledge injection; findings table."""
    if arch not in (*ARCHES, "both"):
        exit_error(f"--arch must be shared, query or both, got {arch!r}")
    if profile not in ("quick", "full"):
        exit_error(f"--profile must be quick or full, got {profile!r}")
    from unisandbox.training import study

    _threads(threads)
    arches = list(ARCHES) if arch == "both" else [arch]
    try:
        f = study.run(
            arches,
            out,
            study.profile(profile, seed),
            {"shared": checkpoint_shared, "query": checkpoint_query},
            log=typer.echo,
            resume=resume,
        )
    except (FileNotFoundError, ValueError) as e:
        exit_error(str(e))
    for c in f["claims"]:
        typer.echo(
            f"- {c['claim']}\n    sandbox: {c['sandbox']}\n    verdict: {c['verdict']} ({c['reason']})"
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("stars")(stars_cmd)
    app.command("inject")(inject_cmd)
    app.command("study")(study_cmd)
