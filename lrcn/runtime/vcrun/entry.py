"""Console-script entry for commands that decode video: exit codes stay 0, 1, 2 (or 130) at exit.

A daemon thread still inside OpenCV when the interpreter finalises is unwound from under
OpenCV's C++ frames, and the process aborts (exit 134, "FATAL: exception not rethrown").
So, after the command: stop every decoder and capture thread and wait for them with a bound
(`decode.stop_owned`); where one is stuck in a native call, flush our output and leave with
os._exit, skipping finalisation. This is for the process's entry only: library code never
exits, and typer's CliRunner (the tests) does not go through `__call__`.
"""

from __future__ import annotations

import traceback

import typer

from lrcn.runtime.console import exit_now
from lrcn.runtime.decode import JOIN_S, stop_owned


def leave_past_stuck_threads(code=0, wait_s: float = JOIN_S) -> None:
    """Stop decoder and capture threads; if one is still inside a native call after wait_s, exit now
    with `code` (a SystemExit's: None, an int, or a message printed to stderr with status 1)."""
    if stop_owned(wait_s):
        exit_now(code)


class App(typer.Typer):
    """A typer app whose process exit is safe from decoder threads stuck in OpenCV."""

    def __call__(self, *args, **kwargs):
        try:
            result = super().__call__(*args, **kwargs)
        except SystemExit as e:
            leave_past_stuck_threads(e.code)
            raise
        except BaseException as e:
            if stop_owned(JOIN_S):  # a bug's traceback, or Ctrl-C, over a stuck thread: said, then left
                traceback.print_exc()
                exit_now(130 if isinstance(e, KeyboardInterrupt) else 1)
            raise
        leave_past_stuck_threads(0)
        return result
