"""Many streams, one model: batched predictions equal single-stream ones, per stream, whatever the batch."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest
from helpers import fake_model
from typer.testing import CliRunner

from lrcn.core.errors import SourceError, VideoError
from lrcn.runtime import VideoClassifier
from lrcn.runtime.sources import Frame
from lrcn.runtime.streamlist import read_stream_list, short_name, unique_names

runner = CliRunner()


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    base = tmp_path_factory.mktemp("fakes")
    return {m: fake_model(base / m.replace("+", "_"), modality=m, seed=i) for i, m in enumerate(("rgb", "diff"))}


def write_video(path, frames: int, fps: float, seed: int, size=(40, 30)):
    rng = np.random.default_rng(seed)
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for _ in range(frames):
        wr.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    wr.release()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Different lengths and frame rates: b ends early; bad.avi is not a video."""
    d = tmp_path_factory.mktemp("videos")
    out = {
        "a": write_video(d / "a.avi", 36, 30, 1),
        "b": write_video(d / "b.avi", 9, 10, 2),
        "c": write_video(d / "c.avi", 25, 25, 3, size=(64, 48)),
    }
    (d / "bad.avi").write_bytes(b"not a video at all")
    out["bad"] = d / "bad.avi"
    return out


class Failing:
    """A live-looking source that gives 3 frames and then drops for good."""

    live, name, read = True, "flaky camera", 0

    def frames(self):
        for i in range(3):
            self.read += 1
            yield Frame(np.full((30, 40, 3), 50 * i, np.uint8), i / 10, i)
        raise SourceError("flaky camera: the stream dropped (--reconnect 0)")

    def close(self):
        pass


def count_batches(part):
    sizes, run = [], part.run

    def counted(outputs, feeds):
        sizes.append(feeds["frame"].shape[0])
        return run(outputs, feeds)

    part.run = counted
    return sizes


@pytest.mark.parametrize("modality,stateful,rate", [("rgb", False, 0), ("diff", False, 10), ("rgb", True, 10)])
def test_each_stream_of_a_batched_run_equals_its_single_stream_run(fakes, videos, modality, stateful, rate):
    clf = VideoClassifier(fakes[modality], device="cpu")
    opts = {"sample_fps": rate, "stateful": stateful, "keep_window": True}
    single = {k: [p for p in clf.stream(videos[k], **opts)] for k in ("a", "b", "c")}
    part = clf.model.part("step" if stateful else "encoder")
    sizes = count_batches(part)
    multi = clf.streams(
        {"a": videos["a"], "b": videos["b"], "c": videos["c"], "bad": videos["bad"], "flaky": Failing()}, **opts
    )
    got, ends = {}, {}
    multi.start()  # let the (lossless) mailboxes fill first: the first tick then takes a frame of each
    time.sleep(1.0)  # stream, so the batching asserted below does not hang on thread timing
    for tick in multi.ticks():
        for p in tick.predictions:
            got.setdefault(p.stream, []).append(p)
        ends.update({e.name: e for e in tick.ended})
    assert max(sizes) >= 3, sizes  # frames of several streams really went through one call
    for k, preds in single.items():
        assert [p.source_index for p in got[k]] == [p.source_index for p in preds]
        assert [p.ready for p in got[k]] == [p.ready for p in preds]
        for p, q in zip(got[k], preds):
            if p.ready:
                np.testing.assert_allclose(p.probs, q.probs, atol=1e-5)
                np.testing.assert_array_equal(p.window, q.window)
        if not stateful:  # the window equals the full model on the same frames
            last = next(p for p in reversed(got[k]) if p.ready)
            np.testing.assert_allclose(last.probs, clf.probs_from_frames(last.window), atol=1e-5)
        assert ends[k].error is None and ends[k].stats.processed == len(preds)
    assert isinstance(ends["bad"].error, VideoError) and "no decodable video frames" in str(ends["bad"].error)
    assert isinstance(ends["flaky"].error, SourceError) and len(got["flaky"]) >= 1
    assert len(got["b"]) < len(got["a"])  # b ended early; a and c went on alone


def test_stream_list_names_comments_and_errors(tmp_path):
    (tmp_path / "clip.avi").write_bytes(b"x")
    lst = tmp_path / "shop.streams"
    lst.write_text("# the shop\n\ndoor = rtsp://u:pw@10.0.0.5:554/s1  # front\n1\nhttp://h/v.mjpg#frag\nclip.avi\n")
    assert read_stream_list(lst) == [
        ("door", "rtsp://u:pw@10.0.0.5:554/s1"),
        (None, "1"),
        (None, "http://h/v.mjpg#frag"),
        (None, str(tmp_path / "clip.avi")),
    ]
    assert [short_name(s) for _, s in read_stream_list(lst)] == ["10.0.0.5:554", "cam1", "h", "clip"]
    assert unique_names(["cam1", "x", "cam1"]) == ["cam1", "x", "cam1-2"]
    for text, why in (
        ("a = 1\na = 2\n", "shop.streams:2: stream name 'a' is used twice"),
        ("# nothing\n", "shop.streams: the stream list names no source"),
        ("bad name! = 1\n", "shop.streams:1: stream name 'bad name!' must be"),
    ):
        lst.write_text(text)
        with pytest.raises(SourceError, match=why):
            read_stream_list(lst)


def test_cli_streams_all_files_at_once_with_names_and_one_failing(fakes, videos, tmp_path):
    from lrcn.runtime.vcrun.cli import app

    lst = tmp_path / "all.streams"
    lst.write_text(f"first = {videos['a']}\n{videos['c']}\n{videos['bad']}\n")
    r = runner.invoke(
        app, [str(lst), "--stream", "--model", str(fakes["rgb"]), "--device", "cpu", "--sample-fps", "0", "--json"]
    )
    assert r.exit_code == 1  # one source failed; the others ran to their end
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    preds = [d for d in rows if "label" in d]
    assert {d["stream"] for d in preds} == {"first", "c"}
    order = [d["stream"] for d in preds]
    assert order.index("c") < len(order) - order[::-1].index("first") - 1  # interleaved, not one after another
    summaries = {d["stream"]: d for d in rows if "summary" in d}
    assert set(summaries) == {"first", "c", "bad"} and summaries["first"]["summary"]["processed"] == 36
    assert "no decodable video frames" in summaries["bad"]["error"]
    assert [x for x in r.stderr.splitlines() if x.startswith("error: ")] == [
        f"error: {videos['bad']}: no decodable video frames"
    ]


def test_mailbox_keeps_the_newest_or_waits_and_ends_after_its_last_item():
    import threading

    from lrcn.runtime.mailbox import Mailbox

    live = Mailbox()
    assert live.put(1) and live.put(2) and live.replaced == 1 and live.take() == 2 and live.take() is None
    live.put(3)
    live.close("gone")
    assert not live.ended and live.take() == 3 and live.ended and live.error == "gone" and not live.put(4)
    box, got = Mailbox(lossless=True), []
    producer = threading.Thread(target=lambda: got.extend(box.put(i) for i in range(3)))
    producer.start()
    taken = []
    while len(taken) < 3:  # the producer waits for each item to be taken: none is lost
        item = box.take()
        if item is not None:
            taken.append(item)
    producer.join(timeout=5)
    assert taken == [0, 1, 2] and got == [True] * 3 and box.replaced == 0


def test_a_camera_that_cannot_open_fails_alone_in_one_line(fakes, videos):
    import socket

    from lrcn.runtime.vcrun.cli import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/cam.mjpg"  # nothing listens there once closed
    r = runner.invoke(
        app,
        [
            url,
            str(videos["c"]),
            "--model",
            str(fakes["rgb"]),
            "--device",
            "cpu",
            "--sample-fps",
            "0",
            "--json",
            "--stream-timeout",
            "1",
        ],
    )
    assert r.exit_code == 1 and "Traceback" not in r.output
    errors = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {url}: cannot be opened")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert sum("label" in d and d["stream"] == "c" for d in rows) == 22  # 25 frames, window of 4
