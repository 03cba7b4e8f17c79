"""Zones: one decode, one FrameSource per region, crops and masks right, errors and closing shared."""

import threading

import numpy as np
import pytest

from lrcn.core.errors import SourceError
from lrcn.runtime.newest import Frame
from lrcn.runtime.zones import Zone, parse_zone, split_zones


class Fake:
    """A file-like source: n frames whose left half is i and right half is 100 + i; counts its decodes."""

    def __init__(self, n=20, live=False, fail_at=None):
        self.name, self.read, self.live = "cam", 0, live
        self.n, self.fail_at = n, fail_at
        self.decodes = 0
        self.closed = threading.Event()

    def frames(self):
        self.decodes += 1
        for i in range(self.n):
            if self.closed.is_set():
                return
            if i == self.fail_at:
                raise SourceError("cam: the stream dropped")
            img = np.zeros((40, 80, 3), np.uint8)
            img[:, :40], img[:, 40:] = i % 256, (100 + i) % 256
            self.read += 1
            yield Frame(img, i / 10, i)

    def close(self):
        self.closed.set()


def drain(src, out):
    try:
        out.extend(src.frames())
    except SourceError as e:
        out.append(e)


def run_all(children):
    outs = [[] for _ in children]
    threads = [threading.Thread(target=drain, args=(c, o)) for c, o in zip(children, outs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    return outs


def test_two_zones_get_their_own_crops_of_every_frame_from_one_decode():
    src = Fake()
    door, hall = split_zones(src, [Zone("door", (0, 0, 0.5, 1)), Zone("hall", (0.5, 0, 1, 1))])
    assert (door.name, hall.name) == ("cam/door", "cam/hall")
    a, b = run_all([door, hall])
    assert src.decodes == 1
    assert [f.index for f in a] == list(range(20)) == [f.index for f in b]  # a file loses no frame
    assert all(f.image.shape == (40, 40, 3) for f in a + b)
    assert [int(f.image[0, 0, 0]) for f in a] == list(range(20))
    assert [int(f.image[0, 0, 0]) for f in b] == [100 + i for i in range(20)]
    assert a[3].t == pytest.approx(0.3)


def test_a_polygon_blacks_out_what_is_outside_it():
    (tri,) = split_zones(Fake(n=1), [Zone("tri", (0, 0, 0.5, 1), ((0, 0), (0.5, 0), (0, 1)))])
    (f,) = run_all([tri])[0]
    img = np.full((40, 80, 3), 9, np.uint8)
    crop = Zone("tri", (0, 0, 0.5, 1), ((0, 0), (0.5, 0), (0, 1))).crop(img)
    assert crop[1, 1, 0] == 9 and crop[38, 38, 0] == 0  # inside the triangle, outside it
    assert f.image.shape == (40, 40, 3)


def test_a_source_error_reaches_every_zone_in_one_line():
    src = Fake(fail_at=5)
    outs = run_all(split_zones(src, [Zone("a", (0, 0, 0.5, 1)), Zone("b", (0.5, 0, 1, 1))]))
    for out in outs:
        assert len(out) == 6 and isinstance(out[-1], SourceError) and "dropped" in str(out[-1])


def test_a_closed_zone_does_not_hold_the_others_back_and_the_last_close_closes_the_source():
    src = Fake(n=200)
    a, b = split_zones(src, [Zone("a", (0, 0, 0.5, 1)), Zone("b", (0.5, 0, 1, 1))])
    a.close()
    (out,) = run_all([b])
    assert len(out) == 200 and not src.closed.is_set()
    b.close()
    assert src.closed.is_set()


class Gated(Fake):
    """A live source that yields frame 0, waits for `go`, yields 1..49, waits for `finish`, ends."""

    def __init__(self):
        super().__init__(n=50, live=True)
        self.go, self.finish, self.sent = threading.Event(), threading.Event(), threading.Event()

    def frames(self):
        for f in super().frames():
            yield f
            if f.index == 0:
                self.go.wait(5)
        self.sent.set()
        self.finish.wait(5)


def test_live_zones_keep_only_the_newest_crop():
    src = Gated()
    (z,) = split_zones(src, [Zone("z", (0, 0, 1, 1))])
    it = z.frames()
    assert next(it).index == 0
    src.go.set()
    assert src.sent.wait(5)  # set once the split thread came back for more: crop 49 was offered
    assert next(it).index == 49  # 1..48 went by while the consumer slept: only the newest was kept
    src.finish.set()
    assert list(it) == []


@pytest.mark.parametrize(
    "text,zone",
    [
        ("door=0,0,0.5,1", Zone("door", (0, 0, 0.5, 1))),
        ("hall=0.5,0,1,1:0.5,0,1,0,1,1", Zone("hall", (0.5, 0, 1, 1), ((0.5, 0), (1, 0), (1, 1)))),
    ],
)
def test_parse(text, zone):
    assert parse_zone(text) == zone


@pytest.mark.parametrize(
    "text", ["door", "door=0,0,1", "door=a,0,1,1", "door=0.5,0,0.5,1", "d/x=0,0,1,1", "d=0,0,1,1:0,0,1", "d=0,0,2,1"]
)
def test_parse_refuses_in_one_line(text):
    with pytest.raises(ValueError) as e:
        parse_zone(text)
    assert "\n" not in str(e.value)


def test_zone_lists_are_checked():
    with pytest.raises(ValueError, match="names must differ"):
        split_zones(Fake(), [Zone("a"), Zone("a")])
    with pytest.raises(ValueError, match="at most"):
        split_zones(Fake(), [Zone(f"z{i}") for i in range(17)])


def test_a_zone_reports_its_shared_sources_reconnects():
    src = Fake(live=True)
    src.reconnecting, src.reconnects = True, 3
    zones = split_zones(src, [Zone("a", (0, 0, 0.5, 1)), Zone("b", (0.5, 0, 1, 1))])
    assert all(z.reconnecting and z.reconnects == 3 for z in zones)
