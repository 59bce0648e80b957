"""CLI commands that write training data for any model: `unisandbox stars-data`, `unisandbox inject-data`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer


def _guarded(fn: Callable[[], None], resume: str) -> None:
    """Bad input exits 2 with one line, writing nothing; samples left without an image or a verdict exit 3
    (a rerun retries them); Ctrl-C exits 130 saying how to resume."""
    from unisandbox.models.base import CapabilityError
    from unisandbox.registry import SpecError
    from unisandbox.runs.config import ConfigError
    from unisandbox.tasks.base import InputError
    from unisandbox.training.stars_data import IncompleteData

    try:
        fn()
    except KeyboardInterrupt:
        print(f"\nInterrupted. Finished work is saved. Resume with: {resume}", file=sys.stderr)
        raise typer.Exit(130) from None
    except (ConfigError, InputError, SpecError, CapabilityError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from None
    except IncompleteData as e:
        print(f"stopped: {e}", file=sys.stderr)
        raise typer.Exit(IncompleteData.exit_code) from None


def _list(value: str, what: str, cast: Callable[[str], Any] = str) -> tuple[Any, ...]:
    from unisandbox.runs.config import ConfigError

    try:
        parts = tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError as e:
        raise ConfigError(f"--{what}: cannot read {value!r} ({e})") from e
    if not parts:
        raise ConfigError(f"--{what}: empty list")
    return parts


def _pairs(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """Repeatable KEY=VALUE options; values are JSON when they parse, else text."""
    import json

    from unisandbox.runs.config import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _print_acceptance(manifest: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"stars-data: {manifest['accepted']} accepted triples -> {out}")
    for col in ("task/level", "samples", "judged", "accepted", "rate (95% CI)", "errors", "missing"):
        table.add_column(col, justify="left" if col == "task/level" else "right", no_wrap=True)
    for key, r in sorted(
        manifest["acceptance"].items(), key=lambda kv: (kv[0][-1], kv[0].startswith("level"))
    ):
        rate = "-" if r["rate"] is None else f"{r['rate']:.2f} ({r['ci_low']:.2f}-{r['ci_high']:.2f})"
        table.add_row(
            key,
            *map(str, (r["samples"], r["judged"], r["accepted"])),
            rate,
            str(r["errors"]),
            str(r["missing"]),
        )
    Console(width=max(Console().width, 110)).print(table)
    for fmt, w in manifest["formats"].items():
        print(f"{fmt}: {out / w['path']} ({w['rows']} rows)")


def register(app: typer.Typer) -> None:
    """Add `stars-data` and `inject-data` to the root app."""

    @app.command("stars-data")
    def stars_data_cmd(
        out: Path = typer.Option(..., "--out", help="Output folder (rerun with the same options to resume)."),
        model: str = typer.Option(
            "sandbox", "--model", help="Model spec that samples think mode (any adapter)."
        ),
        judge: str = typer.Option("sandbox", "--judge", help="Judge spec: sandbox or vlm[:PROMPT_FILE]."),
        tasks: str = typer.Option("math,mapping", "--tasks", help="Comma list: math,mapping."),
        levels: str = typer.Option("1,2,3", "--levels", help="Comma list of curriculum levels."),
        items_per_level: int = typer.Option(
            300, "--items-per-level", help="Fresh train items per task and level (mapping: pairs)."
        ),
        samples: int = typer.Option(3, "--samples", help="K think-mode samples per item."),
        fmt: list[str] = typer.Option(
            ["jsonl"],
            "--format",
            help="jsonl, parquet or bagel (repeatable or comma "
            "list): our JSONL + PNGs, a datasets-readable Parquet file, the study's "
            "BAGEL t2i_pretrain folders.",
        ),
        seed: int = typer.Option(0, "--seed", help="Base seed (items: seed + 5000; samples: seed)."),
        batch_size: int = typer.Option(64, "--batch-size", min=1, help="Samples per model/judge call."),
        model_option: list[str] = typer.Option(
            None, "--model-option", help="KEY=VALUE for the adapter (repeatable)."
        ),
        judge_option: list[str] = typer.Option(
            None, "--judge-option", help="KEY=VALUE for the judge (repeatable)."
        ),
        allow_incomplete: bool = typer.Option(
            False,
            "--allow-incomplete",
            help="Write the accepted triples even when some samples have a judge error or no image.",
        ),
    ) -> None:
        """STARS data for any model: fresh train items (no test expression or rule set), K think-mode samples
        each, judged blind, the accepted (prompt, trace, image) triples in curriculum order, and a manifest
        with the acceptance rate per level. Resumable; shardable under torchrun."""

        def body() -> None:
            from unisandbox.training.stars_data import StarsDataConfig, main

            cfg = StarsDataConfig(
                model=model,
                judge=judge,
                tasks=_list(tasks, "tasks"),
                levels=_list(levels, "levels", int),
                items_per_level=items_per_level,
                samples=samples,
                seed=seed,
                model_options=_pairs(model_option, "--model-option"),
            )
            formats = tuple(f for v in fmt for f in _list(v, "format"))
            manifest = main(
                out,
                cfg,
                formats,
                batch_size=batch_size,
                judge_options=_pairs(judge_option, "--judge-option"),
                allow_incomplete=allow_incomplete,
            )
            if manifest is not None:
                _print_acceptance(manifest, out)

        _guarded(body, f"unisandbox stars-data --out {out} (with the same options)")

    @app.command("inject-data")
    def inject_data_cmd(
        out: Path = typer.Option(..., "--out", help="Output folder."),
        characters: int = typer.Option(
            10,
            "--characters",
            help="Fictional characters to invent (2-60; pairs of two for the inverse test).",
        ),
        seed: int = typer.Option(
            ..., "--seed", help="Seed of the new club (one that meets the official test world is refused)."
        ),
    ) -> None:
        """Knowledge-injection data for any model: fresh fictional characters, their profiles, the text-only
        training corpus (ours and the study's conversation format, per character and per pair with the study's
        vlm_sft configs), and the matching forward and inverse test items."""

        def body() -> None:
            from unisandbox.training.inject_data import write

            m = write(out, characters, seed)
            c = m["counts"]
            print(
                f"inject-data: {m['club']}: {c['characters']} characters, {c['pairs']} pairs, {c['turns']} training "
                f"turns, {c['forward_items']} forward and {c['inverse_items']} inverse test items -> {out}"
            )
            print(
                f"evaluate: unisandbox run --model SPEC --items {out}/knowledge_forward.jsonl "
                f"--items {out}/knowledge_inverse.jsonl"
            )

        _guarded(body, f"unisandbox inject-data --out {out} --characters {characters} --seed {seed}")
