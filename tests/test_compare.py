"""`unisandbox compare`: the table, the paired tests, the chart and the side-by-side page."""

import json

import pytest
from typer.testing import CliRunner

from pipeline_testkit import run_cli
from unisandbox.cli import app
from unisandbox.metrics.stats import mcnemar_exact, newcombe_paired_diff
from unisandbox.report.compare import compare, load_runs, shared_items
from unisandbox.runs.config import ConfigError, RunConfig
from unisandbox.runs.records import SampleRecord, VerdictRecord
from unisandbox.runs.rundir import RunDir
from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items


def _fake_run(root, items, outcomes, spec, judge_hash="j1", skip=()):
    """A run with one normal-mode sample per item whose verdict is outcomes[i] (no images written)."""
    run = RunDir(root)
    manifest = run.create(RunConfig(model=spec, modes=("normal",), probes=False), items)
    manifest = run.bind_component(manifest, "model", spec, {"kind": spec})
    run.write_manifest({**manifest, "judge": {"spec": "sandbox", "describe": {}, "hash": judge_hash}})
    with run.appender("samples") as s, run.appender("verdicts") as v:
        for it, ok in zip(items, outcomes, strict=True):
            if it.id in skip:
                continue
            s.append(
                SampleRecord(
                    item_id=it.id,
                    mode="normal",
                    sample_index=0,
                    seed=0,
                    image=f"nope/{it.id}.png",
                    model=spec,
                ).model_dump(mode="json")
            )
            v.append(
                VerdictRecord(
                    item_id=it.id,
                    mode="normal",
                    sample_index=0,
                    verdict="correct" if ok else "wrong",
                    caption="1 cup",
                    judge="sandbox",
                    judge_hash=judge_hash,
                ).model_dump(mode="json")
            )
    return root


def test_paired_counts_and_tests_follow_the_known_verdicts(tmp_path):
    items = math_items(3, 1, 40)
    x = [i % 2 == 0 for i in range(40)]  # 20 correct
    y = [i % 4 == 0 or i >= 30 for i in range(40)]  # both: even < 30 with i%4==0 -> 8, + 30,32,34,36,38
    a = _fake_run(tmp_path / "a", items, x, "fake:p_normal=0.1")
    b = _fake_run(tmp_path / "b", items, y, "fake:p_normal=0.2")
    cmp = compare(load_runs([a, b]))
    (row,) = cmp["rows"]
    assert (row["mode"], row["units"]) == ("normal", 40)
    assert [c["correct"] for c in row["cells"]] == [sum(x), sum(y)]
    (pair,) = cmp["pairs"]
    both = sum(u and v for u, v in zip(x, y, strict=True))
    only_x = sum(u and not v for u, v in zip(x, y, strict=True))
    only_y = sum(v and not u for u, v in zip(x, y, strict=True))
    assert (pair["both"], pair["only_first"], pair["only_second"]) == (both, only_x, only_y)
    assert pair["mcnemar_p"] == pytest.approx(mcnemar_exact(only_x, only_y))
    est = newcombe_paired_diff(both, only_x, only_y, 40 - both - only_x - only_y)
    assert (pair["diff"], pair["ci_low"], pair["ci_high"]) == pytest.approx((est.value, est.low, est.high))
    assert pair["diff"] == pytest.approx((sum(x) - sum(y)) / 40)
    assert cmp["notes"] == []


def test_mapping_pairs_are_scored_together_and_intersect_keeps_whole_pairs(tmp_path):
    items = mapping_items(5, 1, 6)  # 6 pairs, 12 items
    ok = [True] * 12
    ok[1] = False  # pair 0 fails through its B image
    a = _fake_run(tmp_path / "a", items, ok, "fake")
    b = _fake_run(
        tmp_path / "b", items[:-1], ok[:-1], "fake", judge_hash="j2"
    )  # drops one image of the last pair
    with pytest.raises(ConfigError, match="different item sets"):
        compare(load_runs([a, b]))
    runs = load_runs([a, b])
    assert [r.label for r in runs] == ["fake [a]", "fake [b]"]
    assert len(shared_items(runs, intersect=True)) == 10
    cmp = compare(runs, intersect=True)
    (row,) = cmp["rows"]
    assert row["units"] == 5 and [c["correct"] for c in row["cells"]] == [4, 4]
    assert any("different judges" in n for n in cmp["notes"])


def test_incomplete_runs_are_refused_unless_allowed(tmp_path):
    items = math_items(4, 2, 10)
    a = _fake_run(tmp_path / "a", items, [True] * 10, "fake:p_normal=0.5")
    b = _fake_run(tmp_path / "b", items, [False] * 10, "fake:p_normal=0.9", skip={items[0].id})
    with pytest.raises(ConfigError, match="1 missing"):
        compare(load_runs([a, b]))
    cmp = compare(load_runs([a, b]), allow_incomplete=True)
    pair = cmp["pairs"][0]
    assert pair["n"] == 9 and pair["only_first"] == 9
    assert cmp["rows"][0]["cells"][1]["missing"] == 1


def test_cli_refusals_are_one_line_and_write_nothing(tmp_path):
    items = math_items(6, 1, 5)
    a = _fake_run(tmp_path / "a", items, [True] * 5, "fake")
    b = _fake_run(tmp_path / "b", math_items(7, 1, 5), [True] * 5, "fake")
    out = tmp_path / "cmp"
    cli = CliRunner()
    for args in ([str(a), str(b)], [str(a)], [str(a), str(tmp_path)], [str(a), str(a)]):
        res = cli.invoke(app, ["compare", *args, "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("error: ") and res.output.count("\n") == 1, res.output
        assert not out.exists()
    res = cli.invoke(app, ["compare", str(a), str(b), "--intersect", "--out", str(out)])
    assert res.exit_code == 2 and "share no item" in res.output


def test_compare_two_sandbox_runs_shared_and_query(tmp_path):
    """The acceptance run: the embedded model's two architectures on the same official items."""
    runs = []
    for spec in ("sandbox", "sandbox-query"):
        out = tmp_path / spec
        run_cli("run", "--model", spec, "--limit", "2", "--out", str(out))
        runs.append(out)
    dest = tmp_path / "cmp"
    proc = run_cli("compare", str(runs[0]), str(runs[1]), "--out", str(dest))
    assert "UniSandbox comparison" in proc.stdout and "Paired tests" in proc.stdout
    cmp = json.loads((dest / "compare.json").read_text())
    assert [r["label"] for r in cmp["runs"]] == ["sandbox", "sandbox-query"]
    assert (
        len(cmp["rows"]) == 6 * 3 and len(cmp["pairs"]) == 6 * 3
    )  # task/level x (understanding, normal, think)
    for j, run in enumerate(runs):  # each column equals the run's own report on the same items
        summary = json.loads((run / "summary.json").read_text())
        own = {(r["task"], r["level"], r["mode"]): r["correct"] for r in summary["rows"]}
        own.update({(r["task"], r["level"], "understanding"): r["correct"] for r in summary["understanding"]})
        assert {(r["task"], r["level"], r["mode"]): r["cells"][j]["correct"] for r in cmp["rows"]} == own
    page = (dest / "compare.html").read_text()
    assert "https://" not in page and "http://" not in page  # self-contained
    assert page.count("data:image/png;base64,") >= 1 + 2 * 2 * 12  # chart + an image per item, mode and model
    assert all(it.id in page for it in RunDir(runs[0]).read_items())  # every item shown side by side
    assert (dest / "compare.png").read_bytes()[:4] == b"\x89PNG"
    csv_lines = (dest / "compare.csv").read_text().splitlines()
    assert sum(line.startswith("accuracy,") for line in csv_lines) == 18 * 2
    assert sum(line.startswith("paired,") for line in csv_lines) == 18
