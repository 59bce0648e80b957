"""The one place where the `unisandbox` command turns exceptions into a message and an exit code.

Exit codes: 0 complete; 1 problems found (`data audit`); 2 unusable input (one line
`error: <what> (<where>)`, nothing written); 3 finished but incomplete (errors, missing samples, or a
judge that stopped answering; a rerun retries what failed); 130 interrupted (Ctrl-C); 70 a bug in
unisandbox (the traceback, and a line asking to report it).

An exception is "expected" when its class carries an integer `exit_code` (InputError, ConfigError,
CheckpointError, JudgeUnavailable, ...), or is one of the few library errors that only bad input raises
(unknown component spec, a model that lacks a capability, a file that cannot be read or written).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2
EXIT_INCOMPLETE = 3
EXIT_BUG = 70
EXIT_INTERRUPTED = 130


class UsageProblem(ValueError):
    """A command-line option that cannot work (the message names the option)."""

    exit_code = EXIT_BAD_INPUT


class Incomplete(RuntimeError):
    """The command finished, but some planned work has no result (errors or missing samples)."""

    exit_code = EXIT_INCOMPLETE


def _known_input_errors() -> tuple[type[BaseException], ...]:
    from unisandbox.models.base import CapabilityError
    from unisandbox.registry import SpecError

    return (SpecError, CapabilityError)


def one_line(text: str) -> str:
    """Collapse a message onto one line (extra lines are joined with '; ')."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def known_error(e: BaseException) -> tuple[str, int] | None:
    """(message, exit code) for an expected failure, or None for a bug."""
    code = getattr(type(e), "exit_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        prefix = "stopped" if code == EXIT_INCOMPLETE else "error"
        return f"{prefix}: {one_line(str(e))}", code
    if isinstance(e, _known_input_errors()):
        return f"error: {one_line(str(e))}", EXIT_BAD_INPUT
    if isinstance(e, OSError) and e.filename is not None:
        what = e.strerror or type(e).__name__
        return f"error: {what} ({e.filename})", EXIT_BAD_INPUT
    return None


def guard(fn: Callable[[], None], resume: str | None = None) -> None:
    """Run a command body. An expected failure (`known_error`) prints its one line and ends the command
    with its exit code, also under typer's test runner; Ctrl-C exits 130, saying how to resume when
    `resume` (a command line) is given. A bug propagates to `run_app`, which prints the traceback."""
    import typer

    try:
        fn()
    except KeyboardInterrupt:
        hint = f"Finished work is saved. Resume with: {resume}" if resume else f"(exit {EXIT_INTERRUPTED})."
        print(f"\nInterrupted. {hint}", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as e:
        known = known_error(e)
        if known is None:
            raise
        print(known[0], file=sys.stderr)
        raise typer.Exit(known[1]) from None


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print `message` (one line) on stderr and exit with `code`."""
    print(one_line(message), file=sys.stderr)
    raise SystemExit(code)


def exit_error(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Inside a command: print `error: <message>` on stderr and end the command with `code` (as typer.Exit,
    which `run_app` and typer's test runner both turn into the exit code)."""
    import typer

    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _is_click_error(e: BaseException) -> bool:
    # Typer carries its own copy of click (typer._click), so the check is by shape, not by class.
    return callable(getattr(e, "format_message", None)) and callable(getattr(e, "show", None))


def _click_error(e: Any) -> NoReturn:
    if type(e).__name__ == "NoArgsIsHelpError":
        e.show()
        raise SystemExit(e.exit_code)
    where = ""
    ctx = getattr(e, "ctx", None)
    if ctx is not None:
        where = f" ({ctx.command_path}; see {ctx.command_path} --help)"
    message = e.format_message()
    param = getattr(e, "param", None)
    opts = getattr(param, "opts", None) or []
    hint = " / ".join(f"'{o}'" for o in opts) if opts else None
    if hint and hint not in message:
        message = f"Invalid value for {hint}: {message}"
    fail(f"error: {message}{where}", e.exit_code if e.exit_code else EXIT_BAD_INPUT)


def run_app(app: Any, args: list[str] | None = None) -> NoReturn:
    """Run the typer app and exit with the documented code for whatever happened."""
    try:
        rc = app(args=args, standalone_mode=False)
    except KeyboardInterrupt:
        fail(f"\nInterrupted (exit {EXIT_INTERRUPTED}).", EXIT_INTERRUPTED)
    except Exception as e:  # noqa: BLE001 - the single place that decides how a failure is shown
        if type(e).__name__ == "Abort":
            fail(f"\nInterrupted (exit {EXIT_INTERRUPTED}).", EXIT_INTERRUPTED)
        if _is_click_error(e):
            _click_error(e)
        known = known_error(e)
        if known is None:
            traceback.print_exc()
            fail(
                f"unisandbox hit a bug ({type(e).__name__}). Please report it to the maintainers with the "
                "command line and the traceback above.",
                EXIT_BUG,
            )
        fail(*known)
    raise SystemExit(rc if isinstance(rc, int) else EXIT_OK)
