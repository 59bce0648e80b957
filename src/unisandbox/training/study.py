"""`unisandbox study`: the sandbox replication of "Does Understanding Inform Generation in Unified
Multimodal Models?" (arXiv 2511.20561), end to end, for one or both architectures.

Per architecture: the baseline gap (normal vs think mode and understanding probes on the official test
split), one STARS sampling pass shared by three variants (curriculum, mixed, unfiltered), knowledge
injection with forward and inverse tests in both modes. Then each claim of the study (`training.claims`)
next to the sandbox's numbers, with a verdict by rules fixed in code before any number is seen
(`metrics.claims`: agrees / inconclusive / disagrees / not testable).

Writes `OUT/findings.json`, `OUT/report.md`, and per architecture the STARS and injection reports and
checkpoints and `OUT/<arch>/results.json` (every accuracy with its per-unit outcomes) under `OUT/<arch>/`.
`python -m unisandbox.training.study recompute OUT` rebuilds findings.json and report.md from the saved
results.json files without running a model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisandbox.training.inject import InjectConfig
from unisandbox.training.stars import StarsConfig

if TYPE_CHECKING:
    from unisandbox.tasks.base import Item
    from unisandbox.training.evaluate import Score

STUDY_VERSION = 2
LEVELS = ("1", "2", "3")
RESULTS = "results.json"


@dataclass(frozen=True)
class StudyProfile:
    """Sizes of one study run."""

    name: str
    eval_limit: int | None
    """Scoring units per task and level on the official test split (None: all 100)."""
    stars: StarsConfig
    inject: InjectConfig
    inject_query: InjectConfig | None = None
    """Injection settings for the query arch (its LM alone learns the facts); None: same as `inject`."""
    notes: dict[str, str] = field(default_factory=dict)


def profile(name: str, seed: int = 0) -> StudyProfile:
    """`full` (the README's numbers, <= 45 min on 2 cores for both architectures) or `quick` (CI, <= 5 min)."""
    from unisandbox.training.common import ReplayConfig

    if name == "full":
        # Sized for <= 45 min on 2 CPU cores for both architectures: 300 fresh train items per task and
        # level x 3 samples = 8,100 judged think-mode samples per arch, shared by three 600-step variants.
        return StudyProfile(
            "full",
            None,
            StarsConfig(train_items=300, samples_per_item=3, steps=600, seed=seed),
            InjectConfig(steps=600, seed=seed),
        )
    if name == "quick":
        small = ReplayConfig(math_items=20, mapping_items=10, n_draw=100)
        return StudyProfile(
            "quick",
            12,
            StarsConfig(train_items=24, samples_per_item=2, steps=24, batch_size=16, replay=small, seed=seed),
            InjectConfig(steps=24, batch_size=16, replay=small, seed=seed),
            notes={"why": "exercises every stage; numbers are too small to mean anything"},
        )
    raise ValueError(f"unknown study profile {name!r}; expected 'full' or 'quick'")


def _pooled(scores: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    from unisandbox.training.evaluate import Score

    outcomes = [o for k in keys for o in scores[k].outcomes]
    return Score.of(outcomes).to_dict()


def run_arch(
    arch: str, checkpoint: Path | None, out: Path, prof: StudyProfile, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Baseline, STARS (three variants) and injection for one architecture; returns its results."""
    from unisandbox.judges.sandbox import SandboxJudge
    from unisandbox.training import inject, stars
    from unisandbox.training.common import checkpoint_dir, load_adapter
    from unisandbox.training.evaluate import EvalConfig, measure, paired_change, scores_json

    t0 = time.perf_counter()
    ckpt_dir = checkpoint_dir(checkpoint, arch)
    judge = SandboxJudge()
    model = load_adapter(checkpoint, arch)
    log(f"[{arch}] baseline: normal and think mode, probes ({ckpt_dir})")
    base = measure(model, judge, EvalConfig(modes=("normal", "think"), limit=prof.eval_limit))
    gen = base["generation"]
    gap = {k: paired_change(gen["normal"][k], gen["think"][k]) for k in gen["normal"]}
    keys = list(gen["normal"])
    baseline = {
        **scores_json(base),
        "think_minus_normal": gap,
        "average": {m: _pooled(gen[m], keys) for m in ("normal", "think")},
        "average_change": paired_change(_pool_score(gen["normal"], keys), _pool_score(gen["think"], keys)),
    }
    from unisandbox.runs.io import atomic_write_text

    (out / arch).mkdir(parents=True, exist_ok=True)  # each stage's numbers land on disk as soon as they exist
    atomic_write_text(out / arch / "baseline.json", json.dumps(baseline, indent=2, sort_keys=True) + "\n")
    log(f"[{arch}] STARS: sampling think mode on {prof.stars.train_items} train items per task and level")
    del model
    samples = stars.sample(
        ckpt_dir, arch, out / arch / "stars_data", prof.stars, log=log
    )  # shared by the variants
    items = samples.items
    before_normal = {"generation": {"normal": gen["normal"]}, "probes": base["probes"]}
    variants: dict[str, Any] = {}
    for name, cfg in (
        ("curriculum", prof.stars),
        ("mixed", replace(prof.stars, curriculum=False)),
        ("unfiltered", replace(prof.stars, filtered=False, curriculum=False)),
    ):
        log(f"[{arch}] STARS {name}")
        variants[name] = stars.run(
            ckpt_dir,
            arch,
            out / arch / f"stars_{name}",
            cfg,
            prof.eval_limit,
            before=before_normal,
            samples=samples,
            log=log,
        )
    log(f"[{arch}] knowledge injection")
    icfg = prof.inject_query if (arch == "query" and prof.inject_query) else prof.inject
    injection = inject.run(ckpt_dir, arch, out / arch / "inject", icfg, log=log)
    result = {
        "checkpoint": str(ckpt_dir),
        "profile": prof.name,
        "baseline": baseline,
        "stars": variants,
        "injection": injection,
        "heldout": heldout_masks(ckpt_dir, prof, items),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    atomic_write_text(out / arch / RESULTS, json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


def load_result(out: Path, arch: str, prof: StudyProfile, checkpoint: Path | None) -> dict[str, Any] | None:
    """A finished architecture's results from an earlier run into `out` (same profile and checkpoint), or None.

    Reads `OUT/<arch>/results.json`, else the architecture's entry of an earlier `OUT/findings.json`.
    """
    from unisandbox.training.common import checkpoint_dir

    want = str(checkpoint_dir(checkpoint, arch))
    candidates: list[dict[str, Any]] = []
    if (out / arch / RESULTS).is_file():
        candidates.append(json.loads((out / arch / RESULTS).read_text(encoding="utf-8")))
    if (out / "findings.json").is_file():
        f = json.loads((out / "findings.json").read_text(encoding="utf-8"))
        if arch in f.get("by_arch", {}):
            candidates.append({**f["by_arch"][arch], "profile": f.get("profile")})
    for r in candidates:
        if r.get("profile") == prof.name and r.get("checkpoint") == want:
            return r
    return None


def _pool_score(scores: dict[str, Any], keys: list[str]) -> Score:
    from unisandbox.training.evaluate import Score

    return Score.of([o for k in keys for o in scores[k].outcomes])


def heldout_masks(ckpt_dir: Path, prof: StudyProfile, stars_items: list[Item]) -> dict[str, Any]:
    """Per "task/level", which evaluated units have an expression (math) or rule set (mapping) that no
    training item had: "pretraining" against the checkpoint's pretraining mixture (for the baseline),
    "stars" against it plus the replay pools and the STARS items (for every STARS result)."""
    from unisandbox.training.evaluate import official_items
    from unisandbox.training.heldout import pretraining_items, unseen_unit_masks

    items = official_items("math", limit=prof.eval_limit) + official_items("mapping", limit=prof.eval_limit)
    pre = pretraining_items(ckpt_dir)
    tuned = pretraining_items(ckpt_dir, prof.stars.replay) + list(stars_items)
    return {
        "pretraining": unseen_unit_masks(items, pre),
        "stars": unseen_unit_masks(items, tuned),
        "facts_seen": False,
        "training_items": {"pretraining": len(pre), "stars": len(tuned)},
    }


# --- claims -----------------------------------------------------------------------------------------


def claims(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each claim of the study (`training.claims.CLAIMS`) with the sandbox's numbers and its verdict."""
    from unisandbox.training.claims import verdicts

    return verdicts(results)


def _unseen_rate(score: dict[str, Any], mask: str | None) -> dict[str, Any] | None:
    from unisandbox.metrics.outcomes import rate
    from unisandbox.training.claims import units

    if mask is None or "units" not in score:
        return None
    outs = [o for o, m in zip(units(score, "score"), mask, strict=True) if m == "1"]
    r = rate(outs)
    return {"units": len(outs), "k": r.correct, "n": r.n, "value": r.accuracy}


def findings(results: dict[str, dict[str, Any]], prof: StudyProfile) -> dict[str, Any]:
    """findings.json: the main architecture's numbers at the top level, everything per architecture."""
    main = "shared" if "shared" in results else next(iter(results))
    r = results[main]
    stars_tab: dict[str, dict[str, Any]] = {}
    masks = (r.get("heldout") or {}).get("stars") or {}
    for key, v in r["stars"]["curriculum"]["normal"].items():
        task, level = key.split("/")
        stars_tab.setdefault(task, {})[level] = {
            "before": v["before"]["value"],
            "after": v["after"]["value"],
            "before_ci": [v["before"]["low"], v["before"]["high"]],
            "after_ci": [v["after"]["low"], v["after"]["high"]],
            "chance": v["after"].get("chance"),
            "unseen_before": _unseen_rate(v["before"], masks.get(key)),
            "unseen_after": _unseen_rate(v["after"], masks.get(key)),
        }
    inj = r["injection"]["after"]["generation"]
    injection = {d: {m: inj[d][m]["value"] for m in ("normal", "think")} for d in ("forward", "inverse")}
    injection_ci = {
        d: {m: [inj[d][m]["low"], inj[d][m]["high"]] for m in ("normal", "think")}
        for d in ("forward", "inverse")
    }
    by_arch = {}
    for arch, res in results.items():
        by_arch[arch] = {
            "checkpoint": res["checkpoint"],
            "baseline": res["baseline"],
            "seconds": res["seconds"],
            "heldout": res.get("heldout"),
            "stars": {
                name: {
                    k: res["stars"][name][k]
                    for k in (
                        "normal",
                        "probes",
                        "acceptance",
                        "stages",
                        "loss",
                        "pairs",
                        "sample_seconds",
                        "train_seconds",
                    )
                }
                for name in res["stars"]
            },
            "injection": {
                k: res["injection"][k]
                for k in ("before", "after", "change", "generation_pathway", "loss", "corpus_sequences")
            },
        }
    return {
        "version": STUDY_VERSION,
        "profile": prof.name,
        "main_arch": main,
        "stars": stars_tab,
        "injection": injection,
        "injection_ci": injection_ci,
        "injection_probes": {
            d: r["injection"]["after"]["probes"][d]["value"] for d in ("forward", "inverse")
        },
        "claims": claims(results),
        "by_arch": by_arch,
    }


def run(
    arches: list[str],
    out: Path,
    prof: StudyProfile,
    checkpoints: dict[str, Path | None] | None = None,
    log: Callable[[str], None] = print,
    resume: bool = False,
) -> dict[str, Any]:
    """Run the study; writes OUT/findings.json and OUT/report.md; returns findings.

    `resume`: an architecture already finished in OUT with the same profile and checkpoint is read back
    instead of run again (so the architectures can run in separate processes, then be combined).
    """
    from unisandbox.runs.io import atomic_write_text

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for a in arches:
        ckpt = (checkpoints or {}).get(a)
        done = load_result(out, a, prof, ckpt) if resume else None
        if done is not None:
            log(f"[{a}] finished earlier in {out}: reusing its results")
        results[a] = done if done is not None else run_arch(a, ckpt, out, prof, log)
    f = findings(results, prof)
    f["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_text(out / "findings.json", json.dumps(f, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "report.md", report_markdown(f, results))
    log(f"study written to {out} in {f['seconds']:.0f}s")
    return f


def _iv(s: dict[str, Any]) -> str:
    """ "0.43 [0.33, 0.53]", with errors and missing units when there are any."""
    text = f"{s['value']:.2f} [{s['low']:.2f}, {s['high']:.2f}]"
    extra = [f"{s[k]} {k}" for k in ("errors", "missing") if s.get(k)]
    return text + (f" ({', '.join(extra)})" if extra else "")


def _chance(s: dict[str, Any]) -> str:
    return "-" if s.get("chance") is None else f"{s['chance']:.2f}"


def _unseen_cell(unseen: dict[str, Any] | None) -> str:
    if unseen is None:
        return "-"
    if not unseen["units"]:
        return "n = 0"
    return f"{unseen['first']} vs {unseen['second']}, n = {unseen['units']}: {unseen['verdict']}"


def _claims_table(f: dict[str, Any]) -> list[str]:
    lines = [
        "| claim | study figure | sandbox: first vs second (correct/scored) | verdict | why | "
        "unseen expressions only |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in f["claims"]:
        lines.append(
            f"| {c['claim']} ({c['arch']}; {c['first']} vs {c['second']}) | {c['study']} | "
            f"{c['sandbox']} | **{c['verdict']}** | {c['reason']} | {_unseen_cell(c['unseen'])} |"
        )
    return lines


def _unseen_count(r: dict[str, Any], which: str, key: str) -> str:
    mask = ((r.get("heldout") or {}).get(which) or {}).get(key)
    return "-" if mask is None else str(mask.count("1"))


def _unseen_table(r: dict[str, Any]) -> list[str]:
    """The per-arch table again on the unseen units only: baseline columns against pretraining, STARS
    columns against pretraining + replay + STARS items (`training.heldout`)."""
    held = r.get("heldout") or {}
    if not held.get("pretraining"):
        return []
    b = r["baseline"]

    def cell(score: dict[str, Any], which: str, key: str) -> str:
        u = _unseen_rate(score, held.get(which, {}).get(key))
        if u is None:
            return "-"
        if not u["units"]:
            return "n = 0"
        value = "-" if u["value"] is None else f"{u['value']:.2f}"
        return f"{value} ({u['k']}/{u['n']})"

    lines = [
        "",
        "The same on the units whose expression (math) or rule set (mapping) no training item had "
        "(`training.heldout`; facts are not counted as seen):",
        "",
        "| task/level | units unseen by pretraining | probe | normal | think | units unseen by pretraining "
        "+ STARS | " + " | ".join(f"STARS {v}" for v in r["stars"]) + " |",
        "| --- | --- | --- | --- | --- | --- | " + " | ".join("---" for _ in r["stars"]) + " |",
    ]
    for key in b["generation"]["normal"]:
        pre, tuned = held["pretraining"].get(key), held.get("stars", {}).get(key)
        row = [
            key,
            "-" if pre is None else str(pre.count("1")),
            cell(b["probes"][key], "pretraining", key),
            cell(b["generation"]["normal"][key], "pretraining", key),
            cell(b["generation"]["think"][key], "pretraining", key),
            "-" if tuned is None else str(tuned.count("1")),
        ]
        row += [cell(v["normal"][key]["after"], "stars", key) for v in r["stars"].values()]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def report_markdown(f: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    """The study report: claims with verdicts, then the numbers per architecture."""
    from unisandbox.metrics.claims import PROBE_FLOOR, REJECTED_FLOOR

    lines = [
        f"# Sandbox replication ({f['profile']} profile)",
        "",
        "Official test split, one sample per item, sandbox judge, mapping scored by pair, 95% intervals "
        "(Wilson for accuracies, Newcombe for paired differences, exact McNemar p). Judge errors and "
        "missing images are counted beside each accuracy, never as wrong. Chance: a uniform guesser's "
        "accuracy (`metrics.outcomes`).",
        "",
        "## Findings",
        "",
        "Verdict rules (`metrics.claims`, fixed before any number): **not testable** when a precondition "
        f"fails (an understanding probe below {PROBE_FLOOR:.2f} or not above chance; rejection sampling also "
        f"needs >= {REJECTED_FLOOR:.0%} of samples rejected); else **agrees** / **disagrees** when the paired "
        "interval of first - second lies above / below 0, **inconclusive** when it contains 0. The last "
        "column repeats the comparison on the test units whose expression (math) or rule set (mapping) "
        "no training item had (`training.heldout`).",
        "",
    ]
    lines += _claims_table(f)
    for arch, r in results.items():
        b = r["baseline"]
        lines += [
            "",
            f"## {arch} architecture",
            "",
            f"Checkpoint `{r['checkpoint']}`, {r['seconds']:.0f}s.",
            "",
            "| task/level | chance | probe | normal | think | "
            + " | ".join(f"STARS {v}" for v in r["stars"])
            + " | unseen units (pretraining / + STARS) |",
            "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in r["stars"]) + " | --- |",
        ]
        for key in b["generation"]["normal"]:
            row = [
                key,
                _chance(b["generation"]["normal"][key]),
                _iv(b["probes"][key]),
                _iv(b["generation"]["normal"][key]),
                _iv(b["generation"]["think"][key]),
            ]
            row += [_iv(v["normal"][key]["after"]) for v in r["stars"].values()]
            row.append(f"{_unseen_count(r, 'pretraining', key)} / {_unseen_count(r, 'stars', key)}")
            lines.append("| " + " | ".join(row) + " |")
        lines += _unseen_table(r)
        lines += [
            "",
            "Forgetting check (probes after curriculum STARS): "
            + ", ".join(
                f"{k} {v['before']['value']:.2f} -> {v['after']['value']:.2f}"
                for k, v in r["stars"]["curriculum"]["probes"].items()
            ),
            "",
        ]
        inj = r["injection"]
        lines += [
            "| knowledge | mode | chance | before injection | after injection |",
            "| --- | --- | --- | --- | --- |",
        ]
        for d in ("forward", "inverse"):
            for m in ("normal", "think"):
                lines.append(
                    f"| {d} | {m} | {_chance(inj['after']['generation'][d][m])} | "
                    f"{_iv(inj['before']['generation'][d][m])} | {_iv(inj['after']['generation'][d][m])} |"
                )
            lines.append(
                f"| {d} | probe | {_chance(inj['after']['probes'][d])} | {_iv(inj['before']['probes'][d])} | "
                f"{_iv(inj['after']['probes'][d])} |"
            )
        g = inj["generation_pathway"]
        lines += [
            "",
            f"Injection trained: {g['parameters']}; generation pathway unchanged: {g['untouched']}.",
            "",
        ]
    return "\n".join(lines)


def recompute(out: Path, arches: list[str] | None = None) -> dict[str, Any]:
    """Rebuild OUT/findings.json and OUT/report.md from the saved OUT/<arch>/results.json files (no model
    runs). Raises InputError naming the file and field when a record lacks what the claims need."""
    from dataclasses import replace as _replace

    from unisandbox.runs.io import atomic_write_text
    from unisandbox.tasks.base import InputError

    out = Path(out)
    results: dict[str, dict[str, Any]] = {}
    for arch in arches or ["shared", "query"]:
        path = out / arch / RESULTS
        if not path.is_file():
            continue
        try:
            results[arch] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from e
    if not results:
        raise InputError(f"{out}: no <arch>/{RESULTS} to recompute from")
    name = next(iter(results.values())).get("profile", "full")
    try:
        f = findings(results, _replace(profile("quick"), name=name))
    except InputError as e:
        raise InputError(f"{out}/<arch>/{RESULTS}: {e}") from e
    previous = out / "findings.json"
    if previous.is_file():
        f["seconds"] = json.loads(previous.read_text(encoding="utf-8")).get("seconds")
    atomic_write_text(out / "findings.json", json.dumps(f, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "report.md", report_markdown(f, results))
    return f


def bounds(findings_path: Path) -> list[dict[str, Any]]:
    """For a findings.json recorded before per-unit outcomes were saved: per claim, the verdicts its
    recorded counts allow under the current rules (`training.claims.admitted`)."""
    from unisandbox.tasks.base import InputError
    from unisandbox.training.claims import admitted, with_marginal_units

    try:
        f = json.loads(Path(findings_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{findings_path}: cannot read findings: {e}") from e
    if not isinstance(f, dict) or not isinstance(f.get("by_arch"), dict):
        raise InputError(f"{findings_path}: field 'by_arch': missing")
    return admitted(with_marginal_units(f["by_arch"]))


def main(argv: list[str] | None = None) -> int:
    """`python -m unisandbox.training.study recompute OUT`: findings from saved results, no model runs;
    `... bounds FINDINGS.json`: the verdicts an older findings.json (no per-unit outcomes) allows."""
    import argparse
    import sys

    from unisandbox.tasks.base import InputError

    ap = argparse.ArgumentParser(prog="python -m unisandbox.training.study")
    ap.add_argument("action", choices=["recompute", "bounds"])
    ap.add_argument(
        "out",
        type=Path,
        help="recompute: the study's output directory (holds <arch>/results.json); bounds: a findings.json",
    )
    args = ap.parse_args(argv)
    try:
        if args.action == "bounds":
            for row in bounds(args.out):
                print(
                    f"{' or '.join(row['verdicts']):>28}  {row['id']}: {row['first']} vs {row['second']}"
                    f"{'' if row.get('reason') is None else '  (' + row['reason'] + ')'}"
                )
            return 0
        f = recompute(args.out)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for c in f["claims"]:
        print(f"{c['verdict']:>13}  {c['id']}: {c['sandbox']}")
    print(f"written: {args.out / 'findings.json'}, {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
