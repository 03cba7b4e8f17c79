"""The newest-frame holder shared by live sources and vc-bench's paced sources."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lrcn.core.errors import SourceError
from lrcn.runtime.newest import NewestFrames


def img(v: int) -> np.ndarray:
    return np.full((2, 2, 3), v, np.uint8)


def test_a_busy_consumer_gets_the_newest_frame_only():
    box = NewestFrames()
    for v in range(3):  # three frames arrive while nobody reads
        box.put(img(v))
    frames = box.frames()
    first = next(frames)
    assert first.index == 2 and first.image[0, 0, 0] == 2 and box.count == 3
    box.put(img(3))
    box.end()
    assert [f.index for f in frames] == [3]  # then the iteration ends with the producer


def test_the_producers_error_ends_the_frames_in_one_line():
    box = NewestFrames()
    box.put(img(0))
    box.end("cam: stopped delivering frames")
    frames = box.frames()
    assert next(frames).index == 0  # what arrived before the end is still given
    with pytest.raises(SourceError, match="^cam: stopped delivering frames$"):
        next(frames)


def test_a_producer_in_another_thread_wakes_the_consumer():
    box = NewestFrames()
    taken = threading.Event()

    def produce():
        box.put(img(0))
        taken.wait(10)
        box.put(img(1))
        box.end()

    threading.Thread(target=produce, daemon=True).start()
    seen = []
    for f in box.frames():
        seen.append(f.index)
        taken.set()
    assert seen == [0, 1]


def test_a_silent_producer_is_a_stall_named_by_the_source():
    box = NewestFrames()
    box.alive_at -= 10.0  # as if the last sign of life were 10 s ago: no real waiting
    with pytest.raises(SourceError, match="^cam 7: stalled$"):
        next(box.frames(stall_s=0.2, on_stall=lambda: "cam 7: stalled"))
