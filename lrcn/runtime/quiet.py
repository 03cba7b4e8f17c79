"""Capture what native libraries and onnxruntime's Python layer print while one call runs.

onnxruntime prints a wall of provider errors (from C++ on fd 2, and "EP Error" banners with
print()), and OpenCV prints camera-probe errors from C++. We capture them around the one
call that makes them, keep the text (the reason for a one-line message) and show nothing.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from contextlib import contextmanager, redirect_stdout


class Captured:
    """The text printed inside the block; filled when the block exits."""

    text: str = ""


@contextmanager
def captured_output():
    """Redirect fd 2 and sys.stdout for the block; yields a Captured whose .text is set on exit."""
    out, printed = Captured(), io.StringIO()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreters): stdout only
        saved = None
    with tempfile.TemporaryFile() as tmp, redirect_stdout(printed):
        if saved is not None:
            os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
            tmp.seek(0)
            out.text = tmp.read().decode("utf-8", "replace") + printed.getvalue()
