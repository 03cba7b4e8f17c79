"""The runtime's public stream API: `MultiStream.add/remove`, per-stream settings, handles on predictions."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from helpers import fake_model

from lrcn.runtime import EventConfig, MultiStream, StreamConfig, StreamHandle, VideoClassifier
from lrcn.runtime.sources import Frame, LiveSource


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    return VideoClassifier(fake_model(tmp_path_factory.mktemp("api") / "m", modality="rgb", seed=3), device="cpu")


class Frames:
    """A file-like source of n random frames (lossless: every frame is processed)."""

    live = False

    def __init__(self, name: str, n: int, seed: int):
        self.name, self.n, self.read, self.seed, self.closed = name, n, 0, seed, False

    def frames(self):
        rng = np.random.default_rng(self.seed)
        for i in range(self.n):
            self.read += 1
            yield Frame(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), i / 10, i)

    def close(self):
        self.closed = True


class Endless(Frames):
    """A live-looking source that gives frames until closed."""

    live = True

    def frames(self):
        i = 0
        while not self.closed:
            self.read += 1
            yield Frame(np.full((30, 40, 3), i % 256, np.uint8), i / 10, i)
            i += 1
            time.sleep(0.005)


def test_each_stream_keeps_its_own_settings_and_every_prediction_names_its_handle(clf):
    multi = MultiStream(clf, cfg=StreamConfig(sample_fps=0))
    sure = multi.add("sure", Frames("a", 12, 1), StreamConfig(sample_fps=0, threshold=0.0, max_frames=10))
    doubt = multi.add("doubt", Frames("b", 12, 1), StreamConfig(sample_fps=0, threshold=1.0), EventConfig(0.7))
    assert isinstance(sure, StreamHandle) and sure.id != doubt.id
    assert doubt.events == EventConfig(0.7) and sure.events is None and doubt.cfg.threshold == 1.0
    preds = {sure.id: [], doubt.id: []}
    ended = []
    for tick in multi.ticks():
        for p in tick.predictions:
            preds[p.stream_id].append(p)
        ended += tick.ended
    multi.close()
    assert {p.stream for p in preds[sure.id]} == {"sure"} and {p.stream for p in preds[doubt.id]} == {"doubt"}
    ready_sure = [p for p in preds[sure.id] if p.ready]
    ready_doubt = [p for p in preds[doubt.id] if p.ready]
    assert ready_sure and ready_doubt
    assert not any(p.uncertain for p in ready_sure)  # threshold 0: never uncertain
    assert all(p.uncertain for p in ready_doubt)  # threshold 1: always (the same frames, another setting)
    assert len(preds[sure.id]) == 10 and len(preds[doubt.id]) == 12  # max_frames is per stream too
    assert {e.stream_id for e in ended} == {sure.id, doubt.id} and all(e.error is None for e in ended)
    assert sure.stats().processed == 10 and sure.done


def test_a_stateful_stream_cannot_join_a_window_engine(clf):
    multi = MultiStream(clf)
    with pytest.raises(ValueError, match="stateful"):
        multi.add("x", Frames("x", 3, 0), StreamConfig(stateful=True))


def test_streams_added_and_removed_while_the_loop_runs_in_another_thread(clf):
    multi = MultiStream(clf, cfg=StreamConfig(sample_fps=0))
    first = multi.add("cam", Endless("cam", 0, 0), StreamConfig(sample_fps=0))
    seen: dict[int, int] = {}
    ended = []
    stop = threading.Event()

    def loop():
        for tick in multi.ticks():
            for p in tick.predictions:
                seen[p.stream_id] = seen.get(p.stream_id, 0) + 1
            ended.extend(tick.ended)
            if stop.is_set():
                return

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while seen.get(first.id, 0) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    again = multi.add("cam", Endless("cam", 0, 0), StreamConfig(sample_fps=0))  # the same name, a new stream
    assert again.id != first.id
    multi.remove(first).join(3)
    n_first = seen.get(first.id, 0)
    while seen.get(again.id, 0) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert seen.get(again.id, 0) >= 5 and n_first >= 5
    assert seen.get(first.id, 0) <= n_first + 1  # at most the one frame that was in flight... and none after
    assert first.done and first.source.closed and first not in multi.handles
    assert not any(e.stream_id == first.id for e in ended)  # a removed stream's end is not reported
    stop.set()
    multi.remove(again).join(3)
    t.join(5)
    assert not t.is_alive() and not multi.running


def test_a_live_source_says_when_it_is_reconnecting(monkeypatch):
    """LiveSource.reconnecting is the public health view (no reading its capture from outside)."""
    import lrcn.runtime.sources as sources

    class Cap:
        def __init__(self):
            self.n = 0

        def read(self):
            self.n += 1
            return (True, np.zeros((8, 8, 3), np.uint8)) if self.n < 3 else (False, None)

        def release(self):
            pass

    opens = []

    def fake_open(target, timeout_s):
        opens.append(target)
        return Cap() if len(opens) == 1 else None  # the first open works, every reopen fails

    monkeypatch.setattr(sources, "check_url", lambda url: None)
    monkeypatch.setattr(sources, "_open_capture", fake_open)
    src = LiveSource("rtsp://cam/1", reconnect=3, backoff_s=0.3, timeout_s=1.0)
    try:
        deadline = time.monotonic() + 5
        while not src.reconnecting and time.monotonic() < deadline:
            time.sleep(0.01)
        assert src.reconnecting  # dropped, reopening with backoff
        while src.reconnecting and time.monotonic() < deadline + 5:
            time.sleep(0.05)
        assert not src.reconnecting and len(opens) == 4  # gave up after 3 reopens: no longer reconnecting
    finally:
        src.close()
