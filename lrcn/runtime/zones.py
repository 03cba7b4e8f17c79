"""Zones: regions of one camera's view classified as their own streams, from one decode.

A zone is a rectangle in fractions of the frame (x0, y0, x1, y1), optionally with a polygon (in
fractions of the frame too) outside which its pixels are blacked out. `split_zones(source, zones)`
reads the source once, in one thread, and gives one FrameSource per zone, named `<source>/<zone>`,
each yielding its crop of every frame. Anything that takes a FrameSource takes a zone: the stream
engine then keeps a state, events and a name per zone.

Delivery follows the source: a file's frames reach every zone (the reader waits for the slowest
zone, so nothing is skipped); a live source's zones keep only their newest crop, like the source.
A zone that is closed stops receiving; the source closes when every zone has.

    text form (vc-run --zone, the service's config):  door=0,0,0.5,1   hall=0.5,0,1,1:0.5,0,1,0,1,1
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lrcn.core.errors import LrcnError, SourceError
from lrcn.runtime.frame_source import FrameSource
from lrcn.runtime.newest import Frame
from lrcn.runtime.rect import pixel_box, rect_problem

ZONE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_ZONES = 16
MAX_POLYGON = 64
FILE_QUEUE = 4
"""Frames a file's zone holds ahead; the reader waits when one is full (files lose no frame)."""
PUT_WAIT_S = 0.2


@dataclass(frozen=True)
class Zone:
    """A named region of the view."""

    name: str
    rect: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    """x0, y0, x1, y1 in fractions of the frame's width and height."""
    polygon: tuple[tuple[float, float], ...] = ()
    """Optional mask: (x, y) vertices in fractions of the frame; pixels outside it are black."""

    def __post_init__(self) -> None:
        if not ZONE_NAME.match(self.name):
            raise ValueError(f"zone name {self.name!r}: 1-32 letters, digits, '_' or '-'")
        if rect_problem(self.rect):
            raise ValueError(f"zone {self.name}: rect must be x0,y0,x1,y1 within [0, 1] with x0 < x1, y0 < y1")
        if self.polygon and not 3 <= len(self.polygon) <= MAX_POLYGON:
            raise ValueError(f"zone {self.name}: a polygon needs 3 to {MAX_POLYGON} points")
        if any(not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0) for x, y in self.polygon):
            raise ValueError(f"zone {self.name}: polygon points must be within [0, 1]")

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The rectangle in pixels of a width x height frame, at least 2x2."""
        return pixel_box(self.rect, width, height)

    def crop(self, image: np.ndarray) -> np.ndarray:
        """This zone of one frame (a copy), masked by the polygon when there is one."""
        h, w = image.shape[:2]
        x0, y0, x1, y1 = self.box(w, h)
        out = np.ascontiguousarray(image[y0:y1, x0:x1])
        if self.polygon:
            pts = np.array([[round(x * w) - x0, round(y * h) - y0] for x, y in self.polygon], np.int32)
            mask = np.zeros(out.shape[:2], np.uint8)
            cv2.fillPoly(mask, [pts], 255)
            out[mask == 0] = 0
        return out


def parse_zone(text: str) -> Zone:
    """`name=x0,y0,x1,y1` or `name=x0,y0,x1,y1:px,py,px,py,...` (fractions) -> Zone; ValueError in one line."""
    name, sep, spec = text.partition("=")
    if not sep:
        raise ValueError(f"zone {text!r}: expected name=x0,y0,x1,y1[:polygon x,y,...]")
    rect_s, _, poly_s = spec.partition(":")
    try:
        rect = tuple(float(v) for v in rect_s.split(","))
        poly = [float(v) for v in poly_s.split(",")] if poly_s else []
    except ValueError:
        raise ValueError(f"zone {name!r}: coordinates must be numbers, got {spec!r}") from None
    if len(rect) != 4:
        raise ValueError(f"zone {name!r}: rect needs 4 numbers, got {len(rect)}")
    if len(poly) % 2:
        raise ValueError(f"zone {name!r}: polygon needs x,y pairs")
    return Zone(name, rect, tuple(zip(poly[::2], poly[1::2])))


def check_zones(zones: Sequence[Zone]) -> None:
    if not zones:
        raise ValueError("zones: at least one")
    if len(zones) > MAX_ZONES:
        raise ValueError(f"zones: at most {MAX_ZONES} per stream, got {len(zones)}")
    names = [z.name for z in zones]
    if len(set(names)) != len(names):
        raise ValueError(f"zones: names must differ, got {', '.join(names)}")


_END = object()


class ZoneSource:
    """One zone of a shared source: a FrameSource of its crops."""

    def __init__(self, split: _Split, zone: Zone):
        self.zone, self._split = zone, split
        self.name = f"{split.source.name}/{zone.name}"
        self.live = bool(getattr(split.source, "live", False))
        self.read = 0
        self._q: queue.Queue = queue.Queue(1 if self.live else FILE_QUEUE)
        self.closed = threading.Event()

    @property
    def reconnecting(self) -> bool:
        """The shared source's (a live one reopening after a drop)."""
        return bool(getattr(self._split.source, "reconnecting", False))

    @property
    def reconnects(self) -> int:
        return int(getattr(self._split.source, "reconnects", 0))

    @property
    def packets(self):
        """The shared source's packet ring, if it keeps one (a copied clip shows the whole view)."""
        return getattr(self._split.source, "packets", None)

    def frames(self) -> Iterator[Frame]:
        self._split.start()
        while True:
            item = self._q.get()
            if item is _END:
                error = self._split.error
                if error is not None:
                    raise SourceError(f"{self.name}: {error}") if not isinstance(error, LrcnError) else error
                return
            self.read += 1
            yield item

    def close(self) -> None:
        self.closed.set()
        self._split.child_closed()

    def _offer(self, frame: Frame) -> bool:
        """Hand a crop over; False once the zone is closed. Live: replace an untaken one (newest only)."""
        while not self.closed.is_set():
            try:
                self._q.put(frame, timeout=0 if self.live else PUT_WAIT_S)
                return True
            except queue.Full:
                if self.live:
                    try:
                        self._q.get_nowait()
                    except queue.Empty:
                        pass
        return False

    def _end(self) -> None:
        """The end after every frame offered: a file's zone gets its last frames first; a live or
        closed zone drops an untaken frame for it (the end matters more than a stale frame)."""
        while True:
            try:
                self._q.put(_END, timeout=PUT_WAIT_S if not (self.live or self.closed.is_set()) else 0)
                return
            except queue.Full:
                if self.live or self.closed.is_set():
                    try:
                        self._q.get_nowait()
                    except queue.Empty:
                        pass


class _Split:
    def __init__(self, source: FrameSource, zones: Sequence[Zone]):
        check_zones(zones)
        self.source = source
        self.children = [ZoneSource(self, z) for z in zones]
        self.error: BaseException | None = None
        self._started = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"zones:{source.name}", daemon=True)

    def start(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def child_closed(self) -> None:
        if all(c.closed.is_set() for c in self.children):
            self.source.close()

    def _run(self) -> None:
        try:
            for fr in self.source.frames():
                alive = [c for c in self.children if not c.closed.is_set()]
                if not alive:
                    break
                for c in alive:
                    c._offer(Frame(c.zone.crop(fr.image), fr.t, fr.index))
        except BaseException as e:  # noqa: BLE001 - handed to every zone, which raises it in its own thread
            self.error = e
        finally:
            for c in self.children:
                c._end()


def split_zones(source: FrameSource, zones: Sequence[Zone]) -> list[ZoneSource]:
    """One FrameSource per zone over one decode of `source` (see the module docstring)."""
    return _Split(source, zones).children
