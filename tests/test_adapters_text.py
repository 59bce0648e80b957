"""Parsing of model replies and option coercion shared by the real-model adapters."""

from __future__ import annotations

import pytest

from unisandbox.models._text import (
    TEMPLATES_VERSION,
    THINK_TEMPLATE,
    OptionError,
    opt_bool,
    opt_int,
    parse_answer,
    parse_rewrite,
    think_prompt,
    understand_prompt,
)
from unisandbox.tasks.base import InputError


@pytest.mark.parametrize(
    "reply, answer",
    [
        ("8 / 4 = 2\nAnswer: 2", "2"),
        ("Answer: 3\nWait, no.\nAnswer: 4", "4"),
        ("**Answer:** chairs.", "chairs."),
        ("final answer: lemons", "lemons"),
        ("The symbol stands for cups", "The symbol stands for cups"),
        ("Answer:\n5", "5"),
        ("", ""),
    ],
)
def test_parse_answer(reply, answer):
    assert parse_answer(reply) == answer


def test_parse_rewrite_takes_the_last_prompt_line_and_its_continuation():
    reply = "First, 8 / 4 = 2.\nPrompt: a draft\nHmm.\nPrompt: two red cups\non a table"
    assert parse_rewrite(reply, "x").prompt == "two red cups on a table"
    assert parse_rewrite("**Prompt:** 3 apples", "x").prompt == "3 apples"
    assert parse_rewrite("Image prompt: 2 kites", "x").parsed


def test_parse_rewrite_falls_back_to_the_whole_reply_then_the_original():
    rw = parse_rewrite("I think  it shows\n two cups", "orig")
    assert (rw.prompt, rw.parsed) == ("I think it shows two cups", False)
    assert parse_rewrite("Prompt:   ", "orig") == parse_rewrite("Prompt:", "orig")
    assert parse_rewrite("", "orig").prompt == "orig" and not parse_rewrite("", "orig").parsed


def test_templates_are_versioned_and_fill_in():
    assert TEMPLATES_VERSION == 1
    assert "Request: 3 + 1 cups" in think_prompt("3 + 1 cups") and "Prompt:" in THINK_TEMPLATE
    assert understand_prompt("What is 2+2?").startswith("What is 2+2?") and "Answer:" in understand_prompt(
        "q"
    )


def test_option_coercion():
    opts = {"a": "true", "b": "0", "n": "8"}
    assert opt_bool(opts, "a", False) is True and opt_bool(opts, "b", True) is False
    assert opt_int(opts, "n", 1) == 8 and opts == {}
    with pytest.raises(OptionError, match="'n'"):
        opt_int({"n": "0"}, "n", 1)
    with pytest.raises(InputError):  # OptionError is an InputError: the CLI exits 2
        opt_bool({"x": "perhaps"}, "x", True)
