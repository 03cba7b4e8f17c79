"""Stream names and `.streams` source-list files.

A `.streams` file is a deployment in one file: one source per line (camera index, URL, video
file), `#` starts a comment, blank lines are skipped, and `name = source` names a stream:

    # the shop
    door = rtsp://10.0.0.5/stream1
    till = 1
    http://10.0.0.7:8080/video.mjpg

A stream without a name gets a short one from its source (`cam1`, `10.0.0.7:8080`, a file's
stem); names are unique (a repeat gets `-2`, `-3`). Relative file paths are read relative to
the list file's folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from lrcn.core.errors import SourceError
from lrcn.runtime.sources import check_source

SUFFIX = ".streams"
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
_COMMENT = re.compile(r"(?:^|\s)#")
"""A comment starts the line or follows a space, so a URL's #fragment stays part of it."""
_LINES = re.compile(r"\r?\n")
"""Lines end at LF (or CR LF) only: str.splitlines() would also cut at VT, FF, NEL or U+2028, which a
line must instead be refused for (`check_source`), and would shift the line numbers editors show."""


def is_stream_list(target: str) -> bool:
    return str(target).lower().endswith(SUFFIX)


def short_name(source: str) -> str:
    """A short display name for a source: cam0, host:port (never credentials), a file's stem."""
    s = str(source)
    if s.isdigit():
        return f"cam{s}"
    if s.startswith("camera ") and s[7:].isdigit():  # a LiveSource's name for a camera index
        return f"cam{s[7:]}"
    if "://" in s:
        parts = urlsplit(s)
        host = parts.hostname or parts.scheme
        return f"{host}:{parts.port}" if parts.port else host
    return Path(s).stem or s


def unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def read_stream_list(path: str | Path) -> list[tuple[str | None, str]]:
    """(name or None, source) per line. Raises SourceError naming the file and line of a bad entry."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such stream list") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"{path}: cannot be read as a text stream list ({e})") from None
    entries: list[tuple[str | None, str]] = []
    names: set[str] = set()
    for no, raw in enumerate(_LINES.split(text), 1):
        line = _COMMENT.split(raw, 1)[0].strip()
        if not line:
            continue
        name, source = None, line
        head, sep, tail = line.partition("=")
        if sep and "://" not in head and head.strip() and not Path(line).exists():
            name, source = head.strip(), tail.strip()
            if not _NAME.match(name):
                raise SourceError(f"{path}:{no}: stream name {name!r} must be 1-40 letters, digits or _ . : -")
            if name in names:
                raise SourceError(f"{path}:{no}: stream name {name!r} is used twice")
            names.add(name)
            if not source:
                raise SourceError(f"{path}:{no}: {name} = ... names no source")
        try:
            check_source(source)
        except SourceError as e:
            raise SourceError(f"{path}:{no}: {e}") from None
        if "://" not in source and not source.isdigit() and not Path(source).is_absolute():
            local = path.parent / source
            source = str(local) if local.exists() else source
        entries.append((name, source))
    if not entries:
        raise SourceError(f"{path}: the stream list names no source")
    return entries
