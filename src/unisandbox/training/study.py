"""`unisandbox study`: the sandbox replication of "Does Understanding Inform Generation in Unified
Multimodal Models?" (arXiv 2511.20561), end to end, for one or both architectures.

Per architecture: the baseline gap (normal vs think mode and understanding probes on the official test
split), one STARS sampling pass shared by three variants (curriculum, mixed, unfiltered), knowledge
injection with forward and inverse tests in both modes. Then each claim of the study next to the
sandbox's numbers, with an honest verdict (true / false / "partial"): the thresholds are fixed here,
before any number is seen, and never tuned to a result.

Writes `OUT/findings.json`, `OUT/report.md`, and per architecture the STARS and injection reports and
checkpoints under `OUT/<arch>/`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from unisandbox.training.inject import InjectConfig
from unisandbox.training.stars import StarsConfig

STUDY_VERSION = 1
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
        return StudyProfile("full", None, StarsConfig(train_items=300, samples_per_item=3, steps=600, seed=seed),
                            InjectConfig(steps=600, seed=seed))
    if name == "quick":
        small = ReplayConfig(math_items=20, mapping_items=10, n_draw=100)
        return StudyProfile(
            "quick", 12,
            StarsConfig(train_items=24, samples_per_item=2, steps=24, batch_size=16, replay=small, seed=seed),
            InjectConfig(steps=24, batch_size=16, replay=small, seed=seed),
            notes={"why": "exercises every stage; numbers are too small to mean anything"})
    raise ValueError(f"unknown study profile {name!r}; expected 'full' or 'quick'")


def _pooled(scores: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    from unisandbox.training.evaluate import Score

    outcomes = [o for k in keys for o in scores[k].outcomes]
    return Score.of(outcomes).to_dict()


def run_arch(arch: str, checkpoint: Path | None, out: Path, prof: StudyProfile,
             log: Callable[[str], None] = print) -> dict[str, Any]:
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
    baseline = {**scores_json(base), "think_minus_normal": gap,
                "average": {m: _pooled(gen[m], keys) for m in ("normal", "think")},
                "average_change": paired_change(_pool_score(gen["normal"], keys), _pool_score(gen["think"], keys))}
    from unisandbox.runs.io import atomic_write_text

    (out / arch).mkdir(parents=True, exist_ok=True)  # each stage's numbers land on disk as soon as they exist
    atomic_write_text(out / arch / "baseline.json", json.dumps(baseline, indent=2, sort_keys=True) + "\n")
    log(f"[{arch}] STARS: sampling think mode on {prof.stars.train_items} train items per task and level")
    items = stars.stars_items(prof.stars)
    samples = stars.collect(model, judge, model.codec if hasattr(model, "codec") else _codec(ckpt_dir, arch),
                            items, prof.stars, log=log)
    del model
    before_normal = {"generation": {"normal": gen["normal"]}, "probes": base["probes"]}
    variants: dict[str, Any] = {}
    for name, cfg in (("curriculum", prof.stars), ("mixed", replace(prof.stars, curriculum=False)),
                      ("unfiltered", replace(prof.stars, filtered=False, curriculum=False))):
        log(f"[{arch}] STARS {name}")
        variants[name] = stars.run(ckpt_dir, arch, out / arch / f"stars_{name}", cfg, prof.eval_limit,
                                   before=before_normal, samples=samples, log=log)
    log(f"[{arch}] knowledge injection")
    icfg = prof.inject_query if (arch == "query" and prof.inject_query) else prof.inject
    injection = inject.run(ckpt_dir, arch, out / arch / "inject", icfg, log=log)
    result = {"checkpoint": str(ckpt_dir), "profile": prof.name, "baseline": baseline, "stars": variants,
              "injection": injection, "seconds": round(time.perf_counter() - t0, 1)}
    atomic_write_text(out / arch / RESULTS, json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


def load_result(out: Path, arch: str, prof: StudyProfile, checkpoint: Path | None) -> dict[str, Any] | None:
    """A finished architecture's results from an earlier run into `out` (same profile and checkpoint), or None.

    Reads `OUT/<arch>/results.json`, else the architecture's entry of an earlier `OUT/findings.json`.
    """
    from unisandbox.training.common import checkpoint_dir

    want = str(checkpoint_dir(checkpoint, arch))
    candidates = []
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


def _pool_score(scores: dict[str, Any], keys: list[str]):
    from unisandbox.training.evaluate import Score

    return Score.of([o for k in keys for o in scores[k].outcomes])


def _codec(ckpt_dir: Path, arch: str):
    from unisandbox.models.sandbox.checkpoint import load_checkpoint

    return load_checkpoint(ckpt_dir, arch, device="cpu").codec


# --- claims -----------------------------------------------------------------------------------------

def _sig_up(change: dict[str, Any]) -> bool:
    return change["low"] > 0


def _avg_after(variant: dict[str, Any], task: str) -> dict[str, Any]:
    from unisandbox.training.evaluate import Score

    before = [v["before"] for k, v in variant["normal"].items() if k.startswith(task)]
    after = [v["after"] for k, v in variant["normal"].items() if k.startswith(task)]
    kb, ka, n = sum(s["k"] for s in before), sum(s["k"] for s in after), sum(s["n"] for s in after)
    b, a = Score.of([True] * kb + [False] * (n - kb)), Score.of([True] * ka + [False] * (n - ka))
    return {"before": b.to_dict(), "after": a.to_dict()}


def claims(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each claim of the study with the sandbox's numbers and whether the sandbox agrees.

    Rules (fixed in advance): "agrees" needs the effect's 95% interval to exclude zero in the claimed
    direction; "partial" when the direction holds but the interval includes zero, or when only one of two
    parts of a claim holds; otherwise false.
    """
    def fmt(s: dict[str, Any]) -> str:
        return f"{s['value']:.2f} [{s['low']:.2f}, {s['high']:.2f}]"

    main = "shared" if "shared" in results else next(iter(results))
    r = results[main]
    out: list[dict[str, Any]] = []
    b = r["baseline"]
    ch = b["average_change"]
    out.append({"claim": "Chain of thought (think mode) raises reasoning-based generation "
                         "(BAGEL average about 0.03 -> 0.51).",
                "sandbox": f"{main}: normal {fmt(b['average']['normal'])} -> think {fmt(b['average']['think'])}, "
                           f"change {ch['diff']:+.2f} [{ch['low']:+.2f}, {ch['high']:+.2f}]",
                "agrees": True if _sig_up(ch) else ("partial" if ch["diff"] > 0 else False)})
    cur = r["stars"]["curriculum"]
    m = _avg_after(cur, "math")
    l1 = cur["normal"].get("math/1", {}).get("change", {"diff": 0.0, "low": 0.0, "high": 0.0})
    up = m["after"]["low"] > m["before"]["high"]
    out.append({"claim": "STARS with a curriculum makes normal mode solve math without chain of thought "
                         "(about 0.55 on math).",
                "sandbox": f"{main}: math normal mode {fmt(m['before'])} -> {fmt(m['after'])} after curriculum "
                           f"STARS; level 1 change {l1['diff']:+.2f} [{l1['low']:+.2f}, {l1['high']:+.2f}]",
                "agrees": True if up else ("partial" if m["after"]["value"] > m["before"]["value"] else False)})
    mix = _avg_after(r["stars"]["mixed"], "math")
    out.append({"claim": "A curriculum over levels works better than mixing all levels.",
                "sandbox": f"{main}: math normal mode after curriculum {fmt(m['after'])} vs mixed {fmt(mix['after'])}",
                "agrees": True if m["after"]["low"] > mix["after"]["high"] else
                ("partial" if m["after"]["value"] > mix["after"]["value"] else False)})
    unf = _avg_after(r["stars"]["unfiltered"], "math")
    out.append({"claim": "Rejection sampling matters: training on every think-mode image helps less.",
                "sandbox": f"{main}: math normal mode after filtered (curriculum) {fmt(m['after'])} vs "
                           f"unfiltered {fmt(unf['after'])}",
                "agrees": True if m["after"]["low"] > unf["after"]["high"] else
                ("partial" if m["after"]["value"] > unf["after"]["value"] else False)})
    inj = r["injection"]["after"]["generation"]
    fwd_n, fwd_t = inj["forward"]["normal"], inj["forward"]["think"]
    inv_t = inj["inverse"]["think"]
    fwd_up = fwd_t["low"] > fwd_n["high"]
    inv_low = inv_t["high"] < fwd_t["low"] or inv_t["value"] < 0.25
    out.append({"claim": "After knowledge injection, chain of thought raises forward retrieval (about 0.10 -> "
                         "0.63) while inverse retrieval stays low.",
                "sandbox": f"{main}: forward normal {fmt(fwd_n)}, think {fmt(fwd_t)}; inverse normal "
                           f"{fmt(inj['inverse']['normal'])}, think {fmt(inv_t)}",
                "agrees": True if (fwd_up and inv_low) else ("partial" if (fwd_up or (fwd_t['value'] > fwd_n['value']
                                                                                        and inv_low)) else False)})
    if "shared" in results and "query" in results:
        s, q = results["shared"]["baseline"], results["query"]["baseline"]
        sg, qg = s["average_change"]["diff"], q["average_change"]["diff"]
        sn, qn = s["average"]["normal"], q["average"]["normal"]
        better = qn["low"] > sn["high"]
        out.append({"claim": "Query-based architectures behave as if they carried a latent chain of thought "
                             "(normal mode closer to think mode).",
                    "sandbox": f"normal mode: query {fmt(qn)} vs shared {fmt(sn)}; think - normal: query "
                               f"{qg:+.2f} vs shared {sg:+.2f}",
                    "agrees": True if (better and qg < sg) else ("partial" if (qn["value"] > sn["value"] or qg < sg)
                                                                 else False)})
    return out


def findings(results: dict[str, dict[str, Any]], prof: StudyProfile) -> dict[str, Any]:
    """findings.json: the main architecture's numbers at the top level, everything per architecture."""
    main = "shared" if "shared" in results else next(iter(results))
    r = results[main]
    stars_tab: dict[str, dict[str, Any]] = {}
    for key, v in r["stars"]["curriculum"]["normal"].items():
        task, level = key.split("/")
        stars_tab.setdefault(task, {})[level] = {"before": v["before"]["value"], "after": v["after"]["value"],
                                                 "before_ci": [v["before"]["low"], v["before"]["high"]],
                                                 "after_ci": [v["after"]["low"], v["after"]["high"]]}
    inj = r["injection"]["after"]["generation"]
    injection = {d: {m: inj[d][m]["value"] for m in ("normal", "think")} for d in ("forward", "inverse")}
    injection_ci = {d: {m: [inj[d][m]["low"], inj[d][m]["high"]] for m in ("normal", "think")}
                    for d in ("forward", "inverse")}
    by_arch = {}
    for arch, res in results.items():
        by_arch[arch] = {
            "checkpoint": res["checkpoint"], "baseline": res["baseline"], "seconds": res["seconds"],
            "stars": {name: {k: res["stars"][name][k] for k in ("normal", "probes", "acceptance", "stages", "loss",
                                                              "pairs", "sample_seconds", "train_seconds")}
                      for name in res["stars"]},
            "injection": {k: res["injection"][k] for k in ("before", "after", "change", "generation_pathway", "loss",
                                                          "corpus_sequences")},
        }
    return {"version": STUDY_VERSION, "profile": prof.name, "main_arch": main, "stars": stars_tab,
            "injection": injection, "injection_ci": injection_ci,
            "injection_probes": {d: r["injection"]["after"]["probes"][d]["value"] for d in ("forward", "inverse")},
            "claims": claims(results), "by_arch": by_arch}


def run(arches: list[str], out: Path, prof: StudyProfile, checkpoints: dict[str, Path | None] | None = None,
        log: Callable[[str], None] = print, resume: bool = False) -> dict[str, Any]:
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


def report_markdown(f: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    """The study report: findings table, then the numbers per architecture."""
    def iv(s: dict[str, Any]) -> str:
        return f"{s['value']:.2f} [{s['low']:.2f}, {s['high']:.2f}]"

    lines = [f"# Sandbox replication ({f['profile']} profile)", "",
             "Official test split, one sample per item, sandbox judge, mapping scored by pair, 95% intervals "
             "(Wilson for accuracies, Newcombe for paired changes).", "", "## Findings", "",
             "| claim (study) | sandbox | agrees |", "| --- | --- | --- |"]
    for c in f["claims"]:
        lines.append(f"| {c['claim']} | {c['sandbox']} | {c['agrees']} |")
    for arch, r in results.items():
        b = r["baseline"]
        lines += ["", f"## {arch} architecture", "", f"Checkpoint `{r['checkpoint']}`, {r['seconds']:.0f}s.", "",
                  "| task/level | probe | normal | think | " + " | ".join(f"STARS {v}" for v in r["stars"]) + " |",
                  "| --- | --- | --- | --- | " + " | ".join("---" for _ in r["stars"]) + " |"]
        for key in b["generation"]["normal"]:
            row = [key, iv(b["probes"][key]), iv(b["generation"]["normal"][key]), iv(b["generation"]["think"][key])]
            row += [iv(v["normal"][key]["after"]) for v in r["stars"].values()]
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "Forgetting check (probes after curriculum STARS): " + ", ".join(
            f"{k} {v['before']['value']:.2f} -> {v['after']['value']:.2f}"
            for k, v in r["stars"]["curriculum"]["probes"].items()), ""]
        inj = r["injection"]
        lines += ["| knowledge | mode | before injection | after injection |", "| --- | --- | --- | --- |"]
        for d in ("forward", "inverse"):
            for m in ("normal", "think"):
                lines.append(f"| {d} | {m} | {iv(inj['before']['generation'][d][m])} | "
                             f"{iv(inj['after']['generation'][d][m])} |")
            lines.append(f"| {d} | probe | {iv(inj['before']['probes'][d])} | {iv(inj['after']['probes'][d])} |")
        g = inj["generation_pathway"]
        lines += ["", f"Injection trained: {g['parameters']}; generation pathway unchanged: {g['untouched']}.", ""]
    return "\n".join(lines)
