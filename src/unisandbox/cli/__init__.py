"""The `unisandbox` command. Each command group lives in a sibling module with a `register(app)`.

Modules import their heavy dependencies inside the command functions, so `unisandbox --help` is fast.
"""

from __future__ import annotations

import typer

from unisandbox.cli import compare, data, judging, pipeline, sandbox, training, training_data

app = typer.Typer(
    name="unisandbox",
    help="Does understanding inform generation in unified multimodal models? Measure it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (data, judging, sandbox, pipeline, training, compare, training_data):
    _module.register(app)


@app.callback()
def _root() -> None:
    """UniSandbox: controlled tasks, decoupled evaluation, and a trainable sandbox model."""


def main() -> None:
    """Entry point: run the app; cli/errors.py maps failures to one line and a documented exit code."""
    from unisandbox.cli.errors import run_app

    run_app(app)
