"""The committed official split is exactly what its recorded command produces."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from unisandbox.cli import app
from unisandbox.tasks.audit import audit_file

OFFICIAL = Path(__file__).resolve().parents[1] / "src" / "unisandbox" / "data" / "official"
runner = CliRunner()


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }


def test_official_split_regenerates_byte_for_byte(tmp_path):
    manifest = json.loads((OFFICIAL / "manifest.json").read_text())
    assert manifest["command"] == "unisandbox data generate --out DIR --seed 2511 --split test --size 100"
    assert (
        manifest["command"].replace("DIR", "src/unisandbox/data/official")
        in (OFFICIAL / "README.md").read_text()
    )
    res = runner.invoke(
        app,
        ["data", "generate", "--out", str(tmp_path), "--seed", "2511", "--split", "test", "--size", "100"],
    )
    assert res.exit_code == 0, res.output
    committed, fresh = _files(OFFICIAL), _files(tmp_path)
    assert sorted(committed) == sorted(fresh)
    for name in committed:
        assert committed[name] == fresh[name], name


def test_official_split_contents_and_audit():
    counts = {p.name: sum(1 for _ in p.open()) for p in OFFICIAL.glob("*.jsonl")}
    assert counts == {
        "math_l1.jsonl": 100,
        "math_l2.jsonl": 100,
        "math_l3.jsonl": 100,
        "mapping_l1.jsonl": 200,
        "mapping_l2.jsonl": 200,
        "mapping_l3.jsonl": 200,
        "knowledge_forward.jsonl": 30,
        "knowledge_inverse.jsonl": 20,
    }
    findings = [f for p in sorted(OFFICIAL.glob("*.jsonl")) for f in audit_file(p)]
    assert len(findings) == 950 and all(f.kind == "ok" for f in findings)


def test_generate_twice_is_byte_identical(tmp_path):
    args = ["data", "generate", "--seed", "7", "--size", "15", "--study"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "a")]).exit_code == 0
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "b")]).exit_code == 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
