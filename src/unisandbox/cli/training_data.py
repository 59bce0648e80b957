"""CLI commands that write training data for any model: `unisandbox stars-data`, `unisandbox inject-data`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from unisandbox.cli.errors import guard
from unisandbox.cli.options import comma_list, key_values


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
        out: Annotated[
            Path, typer.Option("--out", help="Output folder (rerun with the same options to resume).")
        ],
        model: Annotated[
            str, typer.Option("--model", help="Model spec that samples think mode (any adapter).")
        ] = "sandbox",
        judge: Annotated[
            str, typer.Option("--judge", help="Judge spec: sandbox or vlm[:PROMPT_FILE].")
        ] = "sandbox",
        tasks: Annotated[str, typer.Option("--tasks", help="Comma list: math,mapping.")] = "math,mapping",
        levels: Annotated[str, typer.Option("--levels", help="Comma list of curriculum levels.")] = "1,2,3",
        items_per_level: Annotated[
            int,
            typer.Option("--items-per-level", help="Fresh train items per task and level (mapping: pairs)."),
        ] = 300,
        samples: Annotated[int, typer.Option("--samples", help="K think-mode samples per item.")] = 3,
        # typer builds a new list on every call, so the mutable default is never shared
        fmt: Annotated[
            list[str],
            typer.Option(
                "--format",
                help="jsonl, parquet or bagel (repeatable or comma "
                "list): our JSONL + PNGs, a datasets-readable Parquet file, the study's "
                "BAGEL t2i_pretrain folders.",
            ),
        ] = ["jsonl"],  # noqa: B006
        seed: Annotated[
            int, typer.Option("--seed", help="Base seed (items: seed + 5000; samples: seed).")
        ] = 0,
        batch_size: Annotated[
            int, typer.Option("--batch-size", min=1, help="Samples per model/judge call.")
        ] = 64,
        model_option: Annotated[
            list[str] | None, typer.Option("--model-option", help="KEY=VALUE for the adapter (repeatable).")
        ] = None,
        judge_option: Annotated[
            list[str] | None, typer.Option("--judge-option", help="KEY=VALUE for the judge (repeatable).")
        ] = None,
        allow_incomplete: Annotated[
            bool,
            typer.Option(
                "--allow-incomplete",
                help="Write the accepted triples even when some samples have a judge error or no image.",
            ),
        ] = False,
    ) -> None:
        """STARS data for any model: fresh train items (no test expression or rule set), K think-mode samples
        each, judged blind, the accepted (prompt, trace, image) triples in curriculum order, and a manifest
        with the acceptance rate per level. Resumable; shardable under torchrun."""

        def body() -> None:
            from unisandbox.training.stars_data import StarsDataConfig, main

            cfg = StarsDataConfig(
                model=model,
                judge=judge,
                tasks=comma_list(tasks, "tasks"),
                levels=comma_list(levels, "levels", int),
                items_per_level=items_per_level,
                samples=samples,
                seed=seed,
                model_options=key_values(model_option, "--model-option") or {},
            )
            formats = tuple(f for v in fmt for f in comma_list(v, "format"))
            manifest = main(
                out,
                cfg,
                formats,
                batch_size=batch_size,
                judge_options=key_values(judge_option, "--judge-option") or {},
                allow_incomplete=allow_incomplete,
            )
            if manifest is not None:
                _print_acceptance(manifest, out)

        guard(body, f"unisandbox stars-data --out {out} (with the same options)")

    @app.command("inject-data")
    def inject_data_cmd(
        *,
        out: Annotated[Path, typer.Option("--out", help="Output folder.")],
        characters: Annotated[
            int,
            typer.Option(
                "--characters",
                help="Fictional characters to invent (2-60; pairs of two for the inverse test).",
            ),
        ] = 10,
        seed: Annotated[
            int,
            typer.Option(
                "--seed", help="Seed of the new club (one that meets the official test world is refused)."
            ),
        ],
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

        guard(body, f"unisandbox inject-data --out {out} --characters {characters} --seed {seed}")
