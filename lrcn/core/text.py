"""Text from files, folders and models made safe to show: no control characters reach a terminal or a report.

A class name, a file name or a metadata value may hold ESC/OSC sequences (an OSC 52 sequence
writes the clipboard), newlines that forge lines, or bidi overrides that reorder what is read; a
file name that is not valid UTF-8 holds lone surrogates, which a UTF-8 terminal or file refuses.
`printable` replaces each such character with "?", the way `ls` shows them.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ud800-\udfff\ufeff]")


def printable(value: object) -> str:
    """str(value) with control, line-separator, bidi and surrogate characters replaced by "?"."""
    return _UNSAFE.sub("?", str(value))


def utf8_text(value: str) -> str:
    """`value` as valid UTF-8 text: the undecodable bytes of a file name (surrogate escapes) become `\\xNN`."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def csv_text(value: object) -> object:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or tab, CR) would run as a formula.
    The undecodable bytes of a file name are written as `\\xNN` (the file is UTF-8)."""
    if isinstance(value, str):
        value = utf8_text(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
