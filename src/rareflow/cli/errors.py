"""One error-to-exit-status mapping for every command (docs/commands/exit-codes.md).

The root command's group (`RareflowGroup`, in `cli/main.py`) runs every command, sub-command
included, inside `reporting_errors()`: an exception that leaves a command becomes one line
on standard error and a documented exit status, never a traceback. Commands raise; they do
not catch errors to print them:

- a `RareflowError` (`rareflow.errors`): its message, its `exit_code` (2 unless the class
  says otherwise: `StoreBusyError` 3, `VerificationError` and `TraceError` 1);
- an `OSError` (a file or folder the system refuses: permission, no such folder, disk
  full): the path and the system's reason, 2;
- Ctrl-C (`KeyboardInterrupt`): "interrupted", 130;
- anything else is a bug in rareflow: "internal error", the exception in one line and how to
  see the traceback (`RAREFLOW_DEBUG=1`), 70.

Usage errors (a bad option: exit 2) and a command's own `typer.Exit(status)` pass through
untouched: click prints the first, the second is the command's result.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from rareflow.cli import console as cli_console
from rareflow.errors import RareflowError
from rareflow.settings import debug_requested

EXIT_OK = 0
EXIT_FINDINGS = 1  # done, but the result needs attention (rejects, invalid, gross error...)
EXIT_ERROR = 2  # nothing (or not everything) done: usage, input, settings, output
EXIT_BUSY = 3  # the store is in use by another process
EXIT_INTERNAL = 70  # a bug in rareflow (EX_SOFTWARE of sysexits.h)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "done",
    EXIT_FINDINGS: "done, but the result needs attention (what, depends on the command)",
    EXIT_ERROR: "a usage error, or input, a setting or an output that cannot be used",
    EXIT_BUSY: "the store is in use by another process",
    EXIT_INTERNAL: "internal error: a bug in rareflow",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

DEBUG_HINT = "run again with RAREFLOW_DEBUG=1 to see the traceback, and please report it"
MAX_DETAIL = 300  # characters of an unexpected exception's text in the one-line message

# exceptions a command raises to end itself (`typer.Exit`, `typer.Abort`, usage errors):
# click turns them into their exit status and message
PASS_THROUGH = (typer.Exit, typer.Abort, TyperException)


def one_line(text: object, limit: int = MAX_DETAIL) -> str:
    """`text` on one line (line breaks folded), at most `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def os_error_message(exc: OSError) -> str:
    """`PATH: reason` from the system's error (`PATH -> OTHER` for a rename or link)."""
    reason = exc.strerror or one_line(exc) or type(exc).__name__
    if exc.filename is None:
        return reason
    where = str(exc.filename)
    if exc.filename2 is not None:
        where += f" -> {exc.filename2}"
    return f"{where}: {reason}"


def exit_status(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one-line message for an exception that left a command."""
    if isinstance(exc, RareflowError):
        return int(exc.exit_code), one_line(exc.message, limit=10_000)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, OSError):
        return EXIT_ERROR, os_error_message(exc)
    detail = one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return EXIT_INTERNAL, f"internal error ({detail}): this is a bug in rareflow; {DEBUG_HINT}"


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Map any exception raised inside to `error: MESSAGE` on standard error and
    `typer.Exit(status)` (see the module). With RAREFLOW_DEBUG=1 the traceback is printed
    first, for every mapped exception."""
    try:
        yield
    except PASS_THROUGH:
        raise
    except BrokenPipeError:
        raise  # the reader went away (`| head`): click exits quietly with status 1
    except (Exception, KeyboardInterrupt) as exc:
        status, message = exit_status(exc)
        if debug_requested():
            traceback.print_exception(exc, file=sys.stderr)
        if status == EXIT_INTERRUPTED:
            cli_console.err.print("interrupted", style="yellow")
        else:
            cli_console.error(message)
        raise typer.Exit(status) from None


class RareflowGroup(TyperGroup):
    """The root command: every command and sub-command runs inside `reporting_errors`."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        with reporting_errors():
            return super().invoke(ctx)

