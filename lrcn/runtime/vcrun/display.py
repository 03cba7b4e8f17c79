"""`--show` (an OpenCV window; q or Esc quits) and `--save out.mp4`: one mosaic of every stream.

Each stream is a tile scaled to a readable size (640 px wide alone, smaller as streams are added),
with a solid band under the picture: the stream's name and processed fps, the label and its
probability, and the top-k as bars.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from lrcn.core.errors import LrcnError
from lrcn.core.text import printable
from lrcn.runtime.quiet import captured_output

WINDOW = "vc-run"
QUIT_KEYS = (ord("q"), ord("Q"), 27)


TILE_W = {1: 640, 2: 560, 4: 480}
"""Tile width by stream count (up to that many); more streams get 360 px tiles."""
BAND = (32, 32, 32)
BAR = (80, 170, 60)
UNSURE = (40, 140, 220)
FONT = cv2.FONT_HERSHEY_SIMPLEX
BARS = 3


def to_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def tile_width(n: int) -> int:
    return next((w for k, w in sorted(TILE_W.items()) if n <= k), 360)


def _text(img, text: str, org, scale: float, color=(255, 255, 255), thick: int = 1) -> None:
    cv2.putText(img, text, org, FONT, scale, color, thick, cv2.LINE_AA)


def draw_tile(frame: np.ndarray, name: str, pred, fps: float, width: int, num_frames: int) -> np.ndarray:
    """The frame scaled to `width` (4:3 box, letterboxed), over a solid band: name, fps, label and
    probability, and the top-k as bars."""
    h = width * 3 // 4
    img = np.zeros((h, width, 3), np.uint8)
    f = to_bgr(frame)
    scale = min(width / f.shape[1], h / f.shape[0])
    fw, fh = max(1, int(f.shape[1] * scale)), max(1, int(f.shape[0] * scale))
    x0, y0 = (width - fw) // 2, (h - fh) // 2
    interp = cv2.INTER_NEAREST if scale >= 2 else cv2.INTER_AREA
    img[y0 : y0 + fh, x0 : x0 + fw] = cv2.resize(f, (fw, fh), interpolation=interp)
    line = 26
    band = np.full((line * (2 + BARS) + 8, width, 3), BAND, np.uint8)
    _text(band, name, (8, 20), 0.6)
    _text(band, f"{fps:.1f} fps", (width - 100, 20), 0.55, (200, 200, 200))
    if pred is None or not pred.ready:
        done = 0 if pred is None else pred.index + 1
        _text(band, f"warming up {done}/{num_frames}", (8, 20 + line), 0.7, (200, 200, 200), 2)
        return np.vstack([img, band])
    color = UNSURE if pred.uncertain else (255, 255, 255)
    _text(band, f"{pred.shown_label}  {pred.probability:.2f}", (8, 20 + line), 0.75, color, 2)
    bar_x, bar_w = width // 2, width // 2 - 12
    for i, (label, p) in enumerate(pred.top_k[:BARS]):
        y = 8 + line * (2 + i)
        _text(band, f"{label[:24]}", (8, y + 16), 0.55, (220, 220, 220))
        cv2.rectangle(band, (bar_x, y + 3), (bar_x + bar_w, y + 19), (70, 70, 70), -1)
        cv2.rectangle(band, (bar_x, y + 3), (bar_x + max(1, int(bar_w * p)), y + 19), BAR, -1)
        _text(band, f"{p:.2f}", (bar_x + 4, y + 16), 0.45)
    return np.vstack([img, band])


def mosaic(tiles: list[np.ndarray]) -> np.ndarray:
    """Tiles of one size in a near-square grid (columns = ceil(sqrt(n))), black where a row is short."""
    n = len(tiles)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    th, tw = tiles[0].shape[:2]
    out = np.zeros((rows * th, cols * tw, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = t
    return out


_PROBE = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()"


def check_window() -> None:
    """Refuse --show in one line where no window can open; OpenCV's GUI aborts the process there."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise LrcnError("--show: no display here (DISPLAY is not set); use --save out.mp4 instead")
    ok = False
    for _ in range(2):  # a display variable can still point nowhere: probe in a child that is allowed to abort;
        try:  # twice, since a display server that has just started can refuse its first client
            ok = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=30).returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        if ok:
            break
    if not ok:
        raise LrcnError("--show: OpenCV cannot open a window here; use --save out.mp4 instead")


def reserve_save(path: str) -> tuple[int, int]:
    """Create `path` empty, exclusively (O_EXCL | O_NOFOLLOW), as the check of `--save`: an existing file
    or a symlink planted there later can never be written through. Returns the file's (st_dev, st_ino),
    for `unreserve`. Raises LrcnError in one line."""
    from lrcn.runtime.decode import is_native_path

    if not is_native_path(path):
        raise LrcnError(f"--save {printable(path)}: the name is not valid UTF-8, which OpenCV cannot write to")
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise LrcnError(f"--save {printable(path)}: exists already; remove it or choose another name") from None
    except OSError as e:
        raise LrcnError(f"--save {printable(path)}: cannot be created ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return st.st_dev, st.st_ino


def unreserve(path: str, ident: tuple[int, int]) -> None:
    """Remove the file `reserve_save` made if it is still that empty file (no video was written)."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if (st.st_dev, st.st_ino) == ident and st.st_size == 0:
        Path(path).unlink(missing_ok=True)


class Display:
    """Shows and/or saves one mosaic of all streams. `update` each prediction, `render` once per tick;
    `render` returns False when the user quits (q, Esc, the window's close button)."""

    SHOW_EVERY_S = 1 / 30
    """The window is redrawn at most this often (a saved video gets every tick)."""

    def __init__(self, show: bool, save: str | None, fps: float, names: list[str] | None = None, num_frames: int = 0):
        self.show, self.save, self.fps = show, Path(save) if save else None, fps
        self.names, self.num_frames = list(names or []), num_frames
        self.tile_w = tile_width(max(1, len(self.names)))
        self._last: dict[str, tuple] = {}
        self._tiles: dict[str, np.ndarray] = {}
        self._writer: cv2.VideoWriter | None = None
        self._tmp: Path | None = None
        """The video is written here, in a private folder beside the target, and os.replace'd over it at close:
        a symlink planted at the target is replaced, never followed, and the target is never half-written."""
        self._size: tuple[int, int] | None = None
        self._window = False
        self._shown_at = 0.0
        if show:
            check_window()

    def update(self, pred, fps: float) -> None:
        """The stream's newest prediction (its frame, label, top-k) and its processed fps."""
        name = pred.stream or (self.names[0] if self.names else "")
        if name not in self.names:
            self.names.append(name)
        self._tiles[name] = draw_tile(pred.frame, name, pred, fps, self.tile_w, self.num_frames)

    def image(self) -> np.ndarray:
        blank = None
        tiles = []
        for n in self.names:
            t = self._tiles.get(n)
            if t is None:
                blank = (
                    blank
                    if blank is not None
                    else draw_tile(np.zeros((3, 4, 3), np.uint8), n, None, 0.0, self.tile_w, self.num_frames)
                )
                t = blank
            tiles.append(t)
        return mosaic(tiles)

    def render(self) -> bool:
        if not self._tiles:
            return True
        now = time.monotonic()
        due = self.show and now - self._shown_at >= self.SHOW_EVERY_S
        if not (self.save or due):
            return True
        img = self.image()
        if self.save:
            self._write(img)
        if due:
            self._shown_at = now
            return self._imshow(img)
        return True

    def _write(self, img: np.ndarray) -> None:
        assert self.save is not None  # render() writes only when saving
        if self._writer is None:
            self.save.parent.mkdir(parents=True, exist_ok=True)
            self._size = (img.shape[1], img.shape[0])
            folder = Path(tempfile.mkdtemp(prefix=".vc-run-save-", dir=self.save.parent))  # mode 0700
            suffix = self.save.suffix if self.save.suffix[1:].isascii() and self.save.suffix[1:].isalnum() else ""
            self._tmp = folder / f"video{suffix}"  # OpenCV picks the container from the extension
            # VideoWriter.fourcc: the same code as cv2.VideoWriter_fourcc, which cv2's stubs lack
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise LrcnError(
                    f"--save {printable(self.save)}: OpenCV cannot write this file (try a .mp4 or .avi path)"
                )
        if (img.shape[1], img.shape[0]) != self._size:  # a reconnected stream may change resolution
            img = cv2.resize(img, self._size)
        self._writer.write(img)

    def _imshow(self, img: np.ndarray) -> bool:
        if self._window:
            cv2.imshow(WINDOW, img)
            key = cv2.waitKey(1) & 0xFF
            closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1  # the window's close button
            return key not in QUIT_KEYS and not closed
        try:  # the first call opens the window: where that fails, keep OpenCV's reason for one line
            with captured_output() as cap:
                cv2.imshow(WINDOW, img)
                key = cv2.waitKey(1) & 0xFF
        except cv2.error as e:
            why = (cap.text.strip().splitlines() or [str(e).strip().splitlines()[-1]])[-1]
            raise LrcnError(f"--show: no window can be opened here ({why[:120]})") from None
        self._window = True
        return key not in QUIT_KEYS

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
        if self._tmp is not None:
            assert self.save is not None
            try:
                if self._tmp.is_file():
                    os.replace(self._tmp, self.save)
            finally:
                shutil.rmtree(self._tmp.parent, ignore_errors=True)
                self._tmp = None
        if self._window:
            cv2.destroyWindow(WINDOW)
            cv2.waitKey(1)
