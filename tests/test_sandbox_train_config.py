"""Training settings: round trip through config.json and `--set KEY=VALUE` overrides."""

import json
import subprocess
import sys

import pytest

from unisandbox.models.sandbox.train import TrainConfig, profile, with_overrides


def test_config_round_trips_through_json():
    cfg = with_overrides(profile("full", "shared"), ["lookup_steps=5", "mixture.rule_format=adjacent"])
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_overrides_reach_nested_settings():
    cfg = with_overrides(
        profile("quick", "shared"),
        [
            "model.rope=true",
            "mixture.rule_format=adjacent",
            'mixture.mapping_items={"1": 10, "2": 20}',
            "weights.und=0.5",
            "steps=7",
        ],
    )
    assert cfg.model["rope"] is True and cfg.model["n_layer"] == 2
    assert cfg.mixture.rule_format == "adjacent" and cfg.mixture.mapping_items == {1: 10, 2: 20}
    assert cfg.weights["und"] == 0.5 and cfg.weights["draw"] == profile("quick").weights["draw"]
    assert cfg.steps == 7
    untouched = profile("quick", "shared")  # the profile itself is untouched
    assert untouched.model.get("rope") is None and untouched.mixture.rule_format != "adjacent"


def test_full_profile_is_the_shipped_recipe():
    # issue 13: rope, the causal qkv convolution and adjacent-pair rules, for both architectures
    for arch in ("shared", "query"):
        cfg = profile("full", arch)
        assert cfg.model["rope"] is True and cfg.model["qkv_conv"] is True
        assert cfg.mixture.rule_format == "adjacent"
    assert profile("full", "query").lm_steps == 3600 and profile("full", "query").steps == 1800


@pytest.mark.parametrize(
    "setting,message",
    [
        ("stepz=3", "unknown key"),
        ("mixture.rule_fmt=adjacent", "unknown key"),
        ("steps", "KEY=VALUE"),
        ("steps.x=1", "not a group"),
        ("mixture.rule_format=colon", "rule_format"),
    ],
)
def test_bad_overrides_are_refused_with_the_setting_named(setting, message):
    with pytest.raises(ValueError, match=message):
        with_overrides(profile("quick"), [setting])


def test_cli_refuses_a_bad_setting_before_training(tmp_path):
    out = tmp_path / "ck"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "unisandbox",
            "sandbox",
            "train",
            "--profile",
            "quick",
            "--out",
            str(out),
            "--set",
            "stepz=3",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "stepz" in r.stderr and "unknown key" in r.stderr
    assert not out.exists()
