"""Sinks with real parts: files on disk and HTTP servers on loopback (200, 500-then-200, stalling)."""

import http.server
import json
import sys
import threading
import time

import pytest

from lrcn.core.errors import LrcnError
from lrcn.runtime.sinks import open_sink, open_sinks
from lrcn.runtime.sinks.http import HttpSink
from lrcn.runtime.sinks.jsonl import JsonlSink


def record(i: int, stream: str = "cam") -> dict:
    return {"type": "event", "phase": "start", "id": f"r-{i}", "stream": stream, "label": "a", "start": float(i)}


def test_jsonl_flushes_each_record_and_rotates(tmp_path):
    path = tmp_path / "out" / "events.jsonl"
    sink = JsonlSink(path, max_bytes=300, keep=2)
    sink.emit(record(0))
    assert json.loads(path.read_text()) == record(0)  # on disk before close
    for i in range(1, 20):
        sink.emit(record(i))
    s = sink.close()
    assert (s.delivered, s.failed, s.dropped, s.unsent) == (20, 0, 0, 0)
    files = [path.with_name("events.jsonl.2"), path.with_name("events.jsonl.1"), path]
    assert all(f.stat().st_size <= 300 for f in files) and not path.with_name("events.jsonl.3").exists()
    lines = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    assert lines == [record(i) for i in range(20 - len(lines), 20)]  # the newest, in order, none torn
    again = JsonlSink(path, max_bytes=10**6)  # appends, never truncates
    again.emit(record(99))
    again.close()
    assert json.loads(path.read_text().splitlines()[-1]) == record(99)


def test_specs_parse_and_fail_in_one_line(tmp_path, monkeypatch):
    sink = open_sink(f"jsonl:{tmp_path / 'e.jsonl'}#max_mb=0.5,keep=3")
    assert (sink.max_bytes, sink.keep) == (2**19, 3)
    sink.close()
    for bad, msg in (
        ("kafka://x", "expected jsonl:PATH"),
        ("jsonl:", "give a file"),
        (f"jsonl:{tmp_path}/x#size=1", "unknown option 'size'"),
        ("http://127.0.0.1:9/#timeout=soon", "timeout must be a float"),
        ("mqtt:///lrcn", r"expected mqtt\(s\)://host"),
    ):
        with pytest.raises(ValueError, match=msg):
            open_sinks([f"jsonl:{tmp_path / 'ok.jsonl'}", bad])
    with pytest.raises(LrcnError, match="cannot open"):
        open_sink(f"jsonl:{tmp_path}")  # a folder
    monkeypatch.setitem(sys.modules, "paho", None)
    monkeypatch.setitem(sys.modules, "paho.mqtt", None)
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)
    with pytest.raises(LrcnError, match=r"pip install 'lrcn\[sinks\]'"):
        open_sink("mqtt://127.0.0.1:1883/lrcn")


class Endpoint:
    """A loopback HTTP server: answers `fail_first` requests with 500, then 200; `stall` holds each
    request until released (bounded by 10 s so a failing test cannot hang)."""

    def __init__(self, fail_first: int = 0, stall: bool = False):
        self.bodies, self.requests, self.fail_first = [], 0, fail_first
        self.release = threading.Event()
        if not stall:
            self.release.set()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests += 1
                owner.release.wait(10)
                code = 500 if owner.requests <= owner.fail_first else 200
                if code == 200:
                    owner.bodies.append(json.loads(body))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    made = []

    def make(**kw):
        made.append(Endpoint(**kw))
        return made[-1]

    yield make
    for e in made:
        e.stop()


def test_http_delivers_in_order(endpoint):
    ep = endpoint()
    sink = open_sink(ep.url + "#timeout=2,retries=2")
    for i in range(20):
        sink.emit(record(i))
    sink.emit({"type": "prediction", "stream": "cam", "label": "a"})  # predictions not asked for: skipped
    s = sink.close(timeout=10)
    assert (s.delivered, s.failed, s.dropped, s.unsent) == (20, 0, 0, 0)
    assert ep.bodies == [record(i) for i in range(20)]


def test_http_retries_through_500_then_counts_what_it_gave_up(endpoint):
    ep = endpoint(fail_first=2)
    sink = HttpSink(ep.url, retries=3, backoff=0.01)
    for i in range(5):
        sink.emit(record(i))
    s = sink.close(timeout=10)
    assert (s.delivered, s.failed, ep.requests) == (5, 0, 7)  # the first record took 3 tries
    ep = endpoint(fail_first=4)
    sink = HttpSink(ep.url, retries=1, backoff=0.01)
    for i in range(5):
        sink.emit(record(i))
    s = sink.close(timeout=10)
    assert (s.delivered, s.failed, s.dropped, s.unsent) == (3, 2, 0, 0)  # records 0 and 1: 2 tries each, both 500
    assert ep.bodies == [record(i) for i in (2, 3, 4)] and "HTTP 500" in s.note


def test_http_stalled_endpoint_never_slows_the_caller(endpoint):
    ep = endpoint(stall=True)
    sink = HttpSink(ep.url, timeout=0.5, retries=1, backoff=0.05, queue=5)
    emit_s = []
    for i in range(200):
        t0 = time.perf_counter()
        sink.emit(record(i))
        emit_s.append(time.perf_counter() - t0)
    # a synchronous POST would cost >= 0.5 s per record here; a queue append costs microseconds
    assert max(emit_s) < 0.1 and sum(emit_s) < 0.5
    t0 = time.perf_counter()
    s = sink.close(timeout=1.0)
    assert time.perf_counter() - t0 < 3.0  # bounded by the close timeout (+ the join's margin)
    assert s.delivered == 0 and s.dropped >= 190
    assert s.delivered + s.failed + s.dropped + s.unsent == 200


def test_http_dead_endpoint_fails_counted(endpoint):
    ep = endpoint()
    url = ep.url
    ep.stop()  # nothing listens there any more: connection refused
    sink = HttpSink(url, timeout=0.5, retries=1, backoff=0.01)
    for i in range(3):
        sink.emit(record(i))
    s = sink.close(timeout=10)
    assert (s.delivered, s.failed, s.unsent) == (0, 3, 0) and "refused" in s.note.lower()


def test_http_predictions_only_when_asked_and_at_the_capped_rate(endpoint):
    ep = endpoint()
    sink = open_sink(ep.url + "#predictions=1")  # at most one per second per stream
    assert sink.wants_predictions
    for i in range(50):  # 50 predictions of two streams within well under a second
        sink.emit({"type": "prediction", "stream": "cam" if i % 2 else "door", "t": i * 0.01, "label": "a"})
    sink.emit(record(0))
    s = sink.close(timeout=10)
    assert [(b["type"], b["stream"]) for b in ep.bodies] == [
        ("prediction", "door"),
        ("prediction", "cam"),
        ("event", "cam"),
    ]
    assert s.delivered == 3
