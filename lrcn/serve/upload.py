"""Checks on an uploaded video before it is decoded: not empty, not text, a known container's signature."""

from __future__ import annotations

import re

from lrcn.runtime.video import VIDEO_EXTENSIONS

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def upload_name(name: str) -> str:
    """A display name for the upload (it never names a path): its last part, in a safe alphabet."""
    base = _SAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip("._") or "upload"
    stem, dot, ext = base.rpartition(".")
    return base if dot and f".{ext.lower()}" in VIDEO_EXTENSIONS else (base if not dot else stem or "upload")


def _container(head: bytes) -> bool:
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")  # MP4, MOV
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head[:4] == b"\x1a\x45\xdf\xa3"  # Matroska, WebM
        or head[:3] == b"FLV"
        or head[:4] == b"OggS"
        or head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")  # MPEG program stream, MPEG-1/2 video
        or head[:6] in (b"GIF87a", b"GIF89a")
        or (len(head) > 188 and head[0] == head[188] == 0x47)
    )  # MPEG transport stream: sync bytes


def check_video_bytes(head: bytes, size: int) -> str | None:
    """Why the upload is not a video (one line), or None when it may be one (decoding decides)."""
    if size == 0:
        return "empty upload"
    if not _container(head):
        try:
            head.decode("utf-8")
            return "text, not a video"
        except UnicodeDecodeError:
            return "not a video container this service reads (mp4, mov, avi, mkv, webm, gif, flv, ogg, mpeg)"
    return None
