"""`--show` (an OpenCV window; q or Esc quits) and `--save out.mp4` (the annotated frames)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from lrcn.core.errors import LrcnError
from lrcn.runtime.quiet import captured_output

WINDOW = "vc-run"
QUIT_KEYS = (ord("q"), ord("Q"), 27)


def annotate(frame: np.ndarray, text: str, fps: float) -> np.ndarray:
    """A copy of the BGR frame with the label line and the fps, scaled to the frame size."""
    if frame.ndim == 2 or frame.shape[2] == 1:
        img = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        img = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    else:
        img = frame.copy()
    scale = max(0.4, img.shape[0] / 600)
    thick = max(1, int(round(scale * 2)))
    for line, y in ((text, 1.0), (f"{fps:.1f} fps", 2.1)):
        org = (8, int(24 * scale * y))
        cv2.putText(img, line, org, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.7, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img, line, org, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.7, (255, 255, 255), thick, cv2.LINE_AA)
    return img


_PROBE = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()"


def check_window() -> None:
    """Refuse --show in one line where no window can open; OpenCV's GUI aborts the process there."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise LrcnError("--show: no display here (DISPLAY is not set); use --save out.mp4 instead")
    try:  # a display variable can still point nowhere: probe in a child that is allowed to abort
        ok = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    if not ok:
        raise LrcnError("--show: OpenCV cannot open a window here; use --save out.mp4 instead")


class Display:
    """Shows and/or saves annotated frames. `update` returns False when the user quits."""

    def __init__(self, show: bool, save: str | None, fps: float):
        self.show, self.save, self.fps = show, Path(save) if save else None, fps
        self._writer = None
        self._size: tuple[int, int] | None = None
        self._window = False
        if show:
            check_window()

    def update(self, frame: np.ndarray, text: str, fps: float) -> bool:
        img = annotate(frame, text, fps)
        if self.save:
            self._write(img)
        if self.show:
            return self._imshow(img)
        return True

    def _write(self, img: np.ndarray) -> None:
        if self._writer is None:
            self.save.parent.mkdir(parents=True, exist_ok=True)
            self._size = (img.shape[1], img.shape[0])
            self._writer = cv2.VideoWriter(str(self.save), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise LrcnError(f"--save {self.save}: OpenCV cannot write this file (try a .mp4 or .avi path)")
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
        if self._window:
            cv2.destroyWindow(WINDOW)
            cv2.waitKey(1)
