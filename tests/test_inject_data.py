"""`unisandbox inject-data`: fresh characters, their corpus in both formats, their tests, read back."""

import json

from typer.testing import CliRunner

from unisandbox.cli import app
from unisandbox.tasks.base import read_items
from unisandbox.tasks.study_format import read_conversations, read_study_file
from unisandbox.tasks.suite import generate_suite
from unisandbox.training.inject_data import official_names, write


def test_files_read_back_and_agree_with_each_other(tmp_path):
    out = tmp_path / "inj"
    res = CliRunner().invoke(app, ["inject-data", "--characters", "6", "--seed", "11", "--out", str(out)])
    assert res.exit_code == 0, res.output
    world = json.loads((out / "knowledge_world.json").read_text())
    names = [c["name"] for c in world["characters"]]
    assert len(names) == 6 and not set(names) & official_names()
    corpus = [json.loads(x) for x in (out / "training" / "knowledge_corpus.jsonl").read_text().splitlines()]
    convs = read_conversations(out / "training" / "knowledge_conversations.jsonl")
    assert len(corpus) == len(convs) >= 6 * 30
    forward, inverse = (
        read_items(out / "knowledge_forward.jsonl"),
        read_items(out / "knowledge_inverse.jsonl"),
    )
    assert len(forward) == 3 * 6 and len(inverse) == 4 * 3
    # The same bytes as `unisandbox data generate --tasks knowledge` for what the two share.
    suite = generate_suite(11, ("knowledge",), characters=6, study=True)
    for rel in (
        "training/knowledge_corpus.jsonl",
        "knowledge_forward.jsonl",
        "study/knowledge_inverse.jsonl",
    ):
        assert (out / rel).read_text() == suite[rel]
    # Study layout: a training file per character and per pair, and the matching tests.
    by_character = {}
    for turn in corpus:
        by_character.setdefault(turn["character"], []).append(turn["question"])
    for name in names:
        conv = read_conversations(out / "study" / "data" / "knowledge" / f"{name}.jsonl")
        assert [c.turns[0][1] for c in conv] == by_character[name]
        tests = read_study_file(out / "study" / "benchmark" / "test_knowledge" / f"{name}.jsonl")
        assert len(tests) == 3 and all(name in t.prompt for t in tests)
        assert (
            "- " + name + "\n"
            in (out / "study" / "data" / "configs" / "Knowledge" / "Forward" / f"{name}.yaml").read_text()
        )
    info = json.loads((out / "study" / "dataset_info.json").read_text())["vlm_sft"]
    for _, a, b in world["pairs"]:
        pair = f"{a}_{b}"
        conv = read_conversations(out / "study" / "data" / "knowledge" / f"{pair}.jsonl")
        assert len(conv) == len(by_character[a]) + len(by_character[b]) == info[pair]["num_total_samples"]
        tests = read_study_file(out / "study" / "benchmark" / "test_knowledge" / f"{pair}.jsonl")
        assert len(tests) == 4 and all(a in t.prompt and b in t.prompt for t in tests)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["turns"] == len(corpus) and "knowledge_world.json" in manifest["files"]


def test_rerun_is_identical_and_other_arguments_or_the_official_world_are_refused(tmp_path):
    out = tmp_path / "inj"
    write(out, 4, 3)
    first = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    write(out, 4, 3)
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == first
    cli = CliRunner()
    for args, where in (
        (["--characters", "4", "--seed", "5"], out),
        (["--characters", "10", "--seed", "2511"], tmp_path / "official"),
    ):
        res = cli.invoke(app, ["inject-data", *args, "--out", str(where)])
        assert res.exit_code == 2 and res.output.startswith("error: ") and res.output.count("\n") == 1, (
            res.output
        )
    assert not (tmp_path / "official").exists()
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == first
