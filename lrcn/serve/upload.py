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


VIDEO_TYPES = ("video/", "application/octet-stream")
"""Content types /classify takes. None of them is one a page of another site may POST without asking
first (CORS preflight, which this service never grants); text/plain, forms and no type at all are."""


def content_type_problem(ctype: str) -> str | None:
    """Why /classify refuses a request of this Content-Type (one line), or None."""
    kind = ctype.split(";", 1)[0].strip().lower()
    if kind.startswith("multipart/"):
        return "send the video as the request body, not as a form (curl --data-binary @clip.mp4 -H 'Content-Type: video/mp4')"
    if not kind.startswith(VIDEO_TYPES):
        shown = f"Content-Type {kind!r}" if kind else "no Content-Type"
        return f"{shown[:80]}: send the video with Content-Type video/... or application/octet-stream"
    return None


def frame_size(path: str) -> tuple[int, int] | None:
    """The frame size the container states for its video (OpenCV's FFmpeg, else PyAV), read before any
    frame is decoded for classifying; None when neither opens the file (decoding then decides)."""
    import cv2

    from lrcn.runtime.decode import open_file_capture

    cap = open_file_capture(path)
    try:
        if cap.isOpened():
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if w > 0 and h > 0:
                return w, h
    finally:
        cap.release()
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(path) as container:
            if not container.streams.video:
                return None
            ctx = container.streams.video[0].codec_context
            return (ctx.width, ctx.height) if ctx.width and ctx.height else None
    except Exception:  # noqa: BLE001 - PyAV cannot open it either: decoding will say why in one line
        return None


class UploadGate:
    """At most `limit` uploads in flight (receiving, waiting for a worker, or classifying), so the
    temporary files and sockets of stalled clients are bounded; used from the event loop only."""

    def __init__(self, limit: int):
        self.limit, self.inflight = limit, 0

    def enter(self) -> bool:
        if self.inflight >= self.limit:
            return False
        self.inflight += 1
        return True

    def leave(self) -> None:
        self.inflight -= 1
