"""What every lrcn CLI shares: one-line errors with a non-zero exit, and leaving at once with output flushed."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from lrcn.core.text import printable

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def safe_markup(value: object) -> str:
    """Data (a path, a class name, an error message) to interpolate into Rich markup: printable and
    escaped, so `x[/b]y.avi` prints as itself instead of raising, and `[conceal]` hides nothing."""
    return escape(printable(value))


def fail(message: str, code: int = 1) -> typer.Exit:
    """`error: message` on stderr; the message is data (file names, class names), never markup or escapes."""
    err_console.print(f"[bold red]error:[/] {safe_markup(message)}", markup=True)
    return typer.Exit(code)


@contextmanager
def one_line_errors():
    """LrcnError -> `error: ...` and exit 1; bad values -> exit 2; Ctrl-C -> exit 130."""
    from lrcn.core.errors import LrcnError

    try:
        yield
    except LrcnError as e:
        raise fail(str(e), 1) from None
    except ValueError as e:
        raise fail(str(e), 2) from None
    except KeyboardInterrupt as e:
        sys.stderr.flush()
        if str(e):  # an interrupt that says what it kept (vc-train: what last.pt holds, how to resume)
            err_console.print(safe_markup(e), highlight=False)
        raise typer.Exit(130) from None


def exit_now(code) -> None:
    """Flush our output and end the process now, skipping interpreter finalisation (and its native aborts)."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what the interpreter would have printed for sys.exit("...")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code or 0)
