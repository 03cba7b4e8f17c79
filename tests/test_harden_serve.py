"""Issue 26, the service's findings: each test crafts the attack in tmp_path or on a loopback port.

Sources from the API and the YAML pass the runtime's `check_source` (1, 5, 15); uploads have their
own pixel limit (3), a bound in flight and a body deadline (4); Host and Origin are checked (6);
secrets in sink and source URLs never reach /metrics or the log (8); streams are capped (10); a
YAML of nested aliases is a short error (16); ended events are bounded (17); the token's channels,
/docs, the dashboard's headers and cross-site uploads (18).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import socket
import threading
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import closed_port_url, fake_model, write_avi
from serve_fixtures import Served, free_port, until

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
from fastapi.testclient import TestClient

LOCAL = "http://127.0.0.1:8000"
"""TestClient's base URL here: the Host a loopback client sends."""


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return fake_model(tmp_path_factory.mktemp("harden_serve_model"))


def make(fake, *, token: str | None = None, max_streams: int = 32, sinks=(), **http):
    from lrcn.serve.api import create_app
    from lrcn.serve.config import HttpSettings, ServeConfig
    from lrcn.serve.service import Service

    cfg = ServeConfig(
        model=str(fake),
        device="cpu",
        threads=1,
        reconnect=0,
        stream_timeout=1.0,
        max_streams=max_streams,
        sinks=list(sinks),
        http=HttpSettings(token=token, **http),
    )
    svc = Service(cfg).start()
    return svc, create_app(svc, token)


@pytest.fixture
def api(fake):
    svc, app = make(fake)
    with TestClient(app, base_url=LOCAL) as c:
        c.service = svc
        yield c
    svc.close(3.0)


# -- 1, 5, 15: sources ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "source, says",
    [
        ("²", "camera indices are ASCII digits"),
        ("1" * 23, "camera indices are ASCII digits"),
        ("rtsp://127.0.0.1:554/x\r\nSET pwned 1\r\nQUIT", "control characters"),
        ("/etc/passwd", "not a file path"),
    ],
)
def test_api_sources_pass_check_source_in_one_line(api, source, says):
    r = api.post("/streams", json={"name": "x", "source": source})
    assert r.status_code == 422 and says in r.json()["error"], r.text
    assert "\n" not in r.json()["error"] and "\r" not in r.json()["error"]
    assert api.get("/streams").json() == {"streams": []}
    assert api.get("/ready").status_code == 200


def test_api_digits_are_a_camera_never_a_file_of_that_name(api, tmp_path, monkeypatch):
    write_avi(tmp_path / "7.avi", [np.zeros((24, 32, 3), np.uint8)] * 12).rename(tmp_path / "7")  # named as camera 7
    assert (tmp_path / "7").stat().st_size > 0
    monkeypatch.chdir(tmp_path)
    assert api.post("/streams", json={"name": "cam", "source": "7", "sample_fps": 0}).status_code == 201
    info = until(
        lambda: (i := api.get("/streams/cam").json())["state"] not in ("starting",) and i, 20, "camera 7 settles"
    )
    assert info["state"] == "failed" and "camera 7" in info["error"], info  # not "ended" after playing the file
    assert info["frames_read"] == 0


def test_a_yaml_source_with_a_line_break_or_odd_digits_is_the_files_one_line_error(tmp_path):
    from lrcn.serve.config import ConfigError, load

    (tmp_path / "m.onnx").write_bytes(b"x")
    for source, says in (("rtsp://127.0.0.1/x\\r\\nQUIT", "control characters"), ("²", "ASCII digits")):
        (tmp_path / "c.yaml").write_text(f'model: m.onnx\nstreams: [{{name: a, source: "{source}"}}]\n')
        with pytest.raises(ConfigError) as err:
            load(tmp_path / "c.yaml")
        msg = str(err.value)
        assert msg.startswith(f"{tmp_path / 'c.yaml'}: streams[0].source: ") and says in msg and "\n" not in msg


def test_any_error_while_opening_marks_the_stream_failed_in_one_line(api, monkeypatch):
    import lrcn.runtime.sources as sources

    def explode(*args, **kwargs):
        raise OverflowError("Python int too large\nto convert")

    crashes = []
    monkeypatch.setattr(sources, "open_source", explode)
    monkeypatch.setattr(threading, "excepthook", lambda args: crashes.append(args.exc_value))
    assert api.post("/streams", json={"name": "odd", "source": "http://127.0.0.1:9/x"}).status_code == 201
    info = until(lambda: (i := api.get("/streams/odd").json())["state"] == "failed" and i, 10, "odd fails")
    assert info["error"] == "OverflowError: Python int too large to convert"
    assert api.get("/ready").status_code == 200 and crashes == []


# -- 10: max_streams -------------------------------------------------------------------------------
def test_max_streams_is_answered_429(fake, tmp_path):
    from lrcn.serve.config import ConfigError, load

    svc, app = make(fake, max_streams=2)
    try:
        with TestClient(app, base_url=LOCAL) as c:
            url = closed_port_url()
            assert [c.post("/streams", json={"name": f"s{i}", "source": url}).status_code for i in range(2)] == [
                201,
                201,
            ]
            r = c.post("/streams", json={"name": "s2", "source": url})
            assert r.status_code == 429 and "max_streams 2" in r.json()["error"]
            assert len(c.get("/streams").json()["streams"]) == 2
            assert c.delete("/streams/s0").status_code == 200
            assert c.post("/streams", json={"name": "s2", "source": url}).status_code == 201
    finally:
        svc.close(3.0)
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "c.yaml").write_text(
        "model: m.onnx\nmax_streams: 1\nstreams: [{name: a, source: '0'}, {name: b, source: '1'}]\n"
    )
    with pytest.raises(ConfigError, match=r"streams: 2 streams, over max_streams \(1\)"):
        load(tmp_path / "c.yaml")


# -- 17: ended events per stream -------------------------------------------------------------------
def test_ended_events_per_stream_are_bounded():
    from lrcn.runtime.events import EventConfig
    from lrcn.serve.service import ENDED_KEPT, StreamEvents

    history = []
    events = StreamEvents(["a", "b"], [], history.append)
    handle = SimpleNamespace(id=1, events=EventConfig(threshold=0.5, min_event=0.0, merge_gap=0.0), live=False)
    entry = SimpleNamespace(handle=handle, settings=SimpleNamespace(name="door"))
    n = 3 * ENDED_KEPT
    for i in range(2 * n):  # a, b, a, b, ...: each prediction ends one event and starts another
        probs = np.array([0.9, 0.1] if i % 2 == 0 else [0.1, 0.9])
        events(entry, SimpleNamespace(probs=probs, t=float(i), label="ab"[i % 2], captured=0.0))
    detector = events.routers[1].detector
    assert detector.ended >= n - 1 and len(detector.events) <= ENDED_KEPT
    assert len(history) >= 2 * n - 1  # every record still reached the history (itself bounded by `history`)


# -- 16: a YAML of nested aliases --------------------------------------------------------------------
def laughs(depth: int, key: str = "model") -> str:
    """The "billion laughs" document: `depth` levels of 9 aliases each, under `key` (9**depth strings)."""
    levels = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, depth)]
    return f"{key}: [{', '.join(levels)}]\n" if key != "model" else f"model: [{', '.join(levels)}]\n"


@pytest.mark.parametrize("where", ["model", "sinks", "http.allowed_hosts"])
def test_nested_aliases_are_a_short_error_in_bounded_memory(tmp_path, where):
    from lrcn.serve.config import ConfigError, load

    (tmp_path / "m.onnx").write_bytes(b"x")
    doc = laughs(9)
    if where == "sinks":
        doc = "model: m.onnx\n" + doc.replace("model:", "sinks: [", 1).rstrip("\n") + "]\n"
    elif where == "http.allowed_hosts":
        doc = "model: m.onnx\nhttp:\n  allowed_hosts: [" + doc.split(": ", 1)[1].rstrip("\n") + "]\n"
    assert len(doc) < 800  # the review's document was 638 bytes
    (tmp_path / "c.yaml").write_text(doc)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as err:
            load(tmp_path / "c.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(err.value)
    assert len(msg) < 400 and "\n" not in msg and "a list of" in msg, msg[:500]
    assert peak < 20 * 1024 * 1024, peak


# -- 8: secrets in sink and source URLs --------------------------------------------------------------
@pytest.mark.timeout(60)
def test_secrets_in_sink_and_source_urls_never_reach_metrics_or_the_log(fake, caplog, tmp_path):
    from lrcn.serve.config import ConfigError, load

    caplog.set_level(logging.INFO, logger="lrcn.serve")
    port = free_port()  # nothing listens: the sink fails and the stream fails
    sink = f"http://hookuser:hookpass@127.0.0.1:{port}/hook?api_key=SINKSECRET#retries=0,timeout=0.5"
    svc, app = make(fake, sinks=[sink])
    try:
        with TestClient(app, base_url=LOCAL) as c:
            cam = f"http://camuser:campass@127.0.0.1:{port}/x.mjpg?token=CAMSECRET"
            assert c.post("/streams", json={"name": "door", "source": cam}).status_code == 201
            svc.record_event({"type": "event", "phase": "start", "stream": "door", "label": "a", "id": "e1"})
            until(lambda: "record(s) failed" in caplog.text, 20, "the sink's failure is logged")
            until(lambda: c.get("/streams/door").json()["state"] == "failed", 20, "the stream fails")
            metrics = c.get("/metrics").text
            listed = c.get("/streams").text
    finally:
        svc.close(3.0)
    assert f'sink="http://127.0.0.1:{port}/hook"' in metrics
    for text in (metrics, caplog.text, listed):
        for secret in ("hookpass", "SINKSECRET", "campass", "CAMSECRET", "hookuser", "camuser"):
            assert secret not in text, (secret, text[:2000])
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "c.yaml").write_text("model: m.onnx\nsinks: ['kafka://u:PASSWD@host/t?key=QSECRET']\n")
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "c.yaml")
    assert "PASSWD" not in str(err.value) and "QSECRET" not in str(err.value) and "kafka://host/t" in str(err.value)


# -- 6: Host and Origin ------------------------------------------------------------------------------
def test_without_a_token_only_loopback_hosts_and_same_origin_writes(fake):
    svc, app = make(fake, allowed_hosts=["cam.lan"])
    try:
        with TestClient(app, base_url=LOCAL) as c:
            for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "127.0.0.2", "cam.lan:8000"):
                assert c.get("/streams", headers={"Host": host}).status_code == 200, host
            for host in ("evil.example:8000", "127.0.0.1.evil.example", "", "localhost.evil.example"):
                r = c.get("/streams", headers={"Host": host})
                assert r.status_code == 400 and "Host" in r.json()["error"], host
            assert c.get("/health", headers={"Host": "evil.example"}).status_code == 400
            url = closed_port_url()
            for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
                r = c.post("/streams", json={"name": "x", "source": url}, headers={"Origin": origin})
                assert r.status_code == 403 and "Origin" in r.json()["error"], origin
            assert c.get("/streams").json() == {"streams": []}
            r = c.post("/streams", json={"name": "x", "source": url}, headers={"Origin": LOCAL})
            assert r.status_code == 201
            assert c.delete("/streams/x", headers={"Origin": "http://evil.example"}).status_code == 403
            assert c.get("/streams", headers={"Origin": "http://evil.example"}).status_code == 200  # reads: no CORS
            assert c.delete("/streams/x").status_code == 200  # no Origin: not a browser page
    finally:
        svc.close(3.0)


# -- 18: token channels, /docs, headers, cross-site uploads -------------------------------------------
def test_the_token_in_the_query_is_for_reads_only(fake):
    svc, app = make(fake, token="s3cret")
    try:
        with TestClient(app, base_url="http://anyname:8000") as c:  # with a token, any Host
            url = closed_port_url()
            assert c.get("/streams", params={"token": "s3cret"}).status_code == 200
            r = c.post("/streams?token=s3cret", json={"name": "x", "source": url})
            assert r.status_code == 401 and "token" in r.json()["error"]
            auth = {"Authorization": "Bearer s3cret"}
            assert c.post("/streams", json={"name": "x", "source": url}, headers=auth).status_code == 201
            assert c.delete("/streams/x?token=s3cret").status_code == 401
            assert c.delete("/streams/x", headers=auth).status_code == 200
    finally:
        svc.close(3.0)


def test_the_token_comes_from_the_environment_or_a_file(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    (tmp_path / "m.onnx").write_bytes(b"not a model")  # the checks pass, then the model fails to load
    tokfile = tmp_path / "token"
    tokfile.write_text("s3cret\n")

    def serve(*args, token_env=None):
        env = {k: v for k, v in os.environ.items() if k != "LRCN_SERVE_TOKEN"}
        if token_env:
            env["LRCN_SERVE_TOKEN"] = token_env
        return subprocess.run(
            [sys.executable, "-m", "lrcn.serve.cli", "--model", str(tmp_path / "m.onnx"), "--host", "0.0.0.0", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    none = serve()
    assert none.returncode == 2 and "give a token" in none.stderr
    for r in (serve(token_env="s3cret"), serve("--token-file", str(tokfile))):
        assert r.returncode == 1 and "give a token" not in r.stderr, r.stderr  # past the token check
    from lrcn.serve.config import ConfigError, read_token_file

    assert read_token_file(str(tokfile)) == "s3cret"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="expected one line"):
        read_token_file(str(tmp_path / "empty"))


def test_docs_are_off_and_the_dashboard_has_a_csp_and_nosniff(fake):
    from lrcn.serve.dashboard import PAGE

    svc, app = make(fake)
    try:
        with TestClient(app, base_url=LOCAL) as c:
            assert c.get("/docs").status_code == 404 and c.get("/redoc").status_code == 404
            page = c.get("/")
            csp = page.headers["content-security-policy"]
            script = re.search(r"<script>(.*?)</script>", PAGE, re.S).group(1)
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
            assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
            for path in ("/", "/streams", "/nothing"):
                assert c.get(path).headers["x-content-type-options"] == "nosniff", path
    finally:
        svc.close(3.0)
    svc, app = make(fake, docs=True)
    try:
        with TestClient(app, base_url=LOCAL) as c:
            assert c.get("/docs").status_code == 200
    finally:
        svc.close(3.0)


def test_classify_refuses_what_another_site_may_post(api, tiny_data):
    data = min(tiny_data.rglob("*.avi")).read_bytes()
    for ctype in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        headers = {"Content-Type": ctype} if ctype else {}
        r = api.post("/classify", content=data, headers=headers)
        assert r.status_code == 415 and "Content-Type" in r.json()["error"], (ctype, r.text)
    r = api.post(
        "/classify", content=data, headers={"Content-Type": "video/x-msvideo", "Origin": "http://evil.example"}
    )
    assert r.status_code == 403
    assert api.post("/classify", content=data, headers={"Content-Type": "video/x-msvideo"}).status_code == 200
    assert api.post("/classify", content=data, headers={"Content-Type": "application/octet-stream"}).status_code == 200


# -- 3: the upload's own pixel limit and decode timeout ----------------------------------------------
def test_an_upload_over_its_pixel_limit_is_refused_before_it_decodes(fake, tmp_path):
    svc, app = make(fake, upload_max_pixels=64 * 64, upload_decode_timeout=7.0)
    clip = write_avi(tmp_path / "wide.avi", [np.zeros((64, 96, 3), np.uint8)] * 8)
    small = write_avi(tmp_path / "small.avi", [np.zeros((48, 64, 3), np.uint8)] * 8)
    try:
        assert svc.clf.decode_timeout_s == 7.0
        decoded = []
        predict = svc.clf.predict
        svc.clf.predict = lambda path, **kw: decoded.append(path) or predict(path, **kw)
        with TestClient(app, base_url=LOCAL) as c:
            r = c.post(
                "/classify",
                params={"name": "wide.avi"},
                content=clip.read_bytes(),
                headers={"Content-Type": "video/avi"},
            )
            assert r.status_code == 413 and r.json()["error"] == (
                "wide.avi: frames of 96x64 pixels are over the upload limit of 4,096 pixels (http.upload_max_pixels)"
            )
            assert decoded == []
            r = c.post("/classify", content=small.read_bytes(), headers={"Content-Type": "video/avi"})
            assert r.status_code == 200 and len(decoded) == 1
    finally:
        svc.close(3.0)


def test_an_upload_decodes_within_its_own_timeout(fake, tmp_path):
    svc, app = make(fake, upload_decode_timeout=0.001)
    clip = write_avi(tmp_path / "slow.avi", [np.zeros((48, 64, 3), np.uint8)] * 30)
    try:
        with TestClient(app, base_url=LOCAL) as c:
            r = c.post(
                "/classify",
                params={"name": "slow.avi"},
                content=clip.read_bytes(),
                headers={"Content-Type": "video/avi"},
            )
            assert r.status_code == 422 and r.json()["error"] == "slow.avi: decoding took longer than 0.001 s", r.text
    finally:
        svc.close(3.0)


def _h264(path, side: int, frames: int = 2):
    """A black side x side H.264 MP4 (PyAV's libx264), or a skip where this build has no encoder for it."""
    av = pytest.importorskip("av", reason="PyAV is not installed")
    if "libx264" not in av.codecs_available:
        pytest.skip("this PyAV build has no libx264 encoder")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.zeros((side, side, 3), np.uint8), format="rgb24")
        for _ in range(frames):
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak RSS is read from /proc")
def test_the_reviews_8192_square_h264_upload_is_refused_before_it_balloons(fake, tmp_path):
    import urllib.error
    import urllib.request

    big = _h264(tmp_path / "big.mp4", 8192)
    assert big.stat().st_size < 400_000  # the review's was 199 KB
    port = free_port()
    served = Served(["--model", str(fake), "--device", "cpu", "--port", str(port)], port)
    try:
        served.wait_ready()
        before = _peak_rss_mb(served.proc.pid)
        req = urllib.request.Request(
            f"{served.url}/classify?name=big.mp4", big.read_bytes(), {"Content-Type": "video/mp4"}, method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=60)
        assert err.value.code == 413 and b"8192x8192 pixels are over the upload limit" in err.value.read()
        grew = _peak_rss_mb(served.proc.pid) - before
        assert grew < 400, grew  # one frame read to learn the size (about 160 MB); decoding it all took ~1 GB
        assert served.stop()[0] == 0
    finally:
        served.kill()


# -- 4: stalled uploads, connections ------------------------------------------------------------------
def _stall(port: int, body: int = 64 * 1024) -> socket.socket:
    """POST /classify announcing 4 MB, send `body` bytes of it, then nothing."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        b"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: video/mp4\r\n"
        b"Content-Length: 4194304\r\n\r\n" + b"\x00\x00\x00\x18ftypmp42" + bytes(body - 12)
    )
    return s


def _answer(s: socket.socket, seconds: float) -> tuple[bytes, bool]:
    """What the server sends within `seconds`, and whether it closed the connection."""
    s.settimeout(0.2)
    got, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return got, True
        if not chunk:
            return got, True
        got += chunk
    return got, False


@pytest.mark.timeout(120)
def test_stalled_uploads_are_bounded_timed_out_and_closed(fake, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"model: {fake}\ndevice: cpu\nthreads: 1\nhttp: {{port: {port}, max_uploads: 2, upload_timeout: 2,"
        " max_connections: 8, keep_alive: 1}\n"
    )
    served = Served([str(cfg)], port, env={"TMPDIR": str(tmp)})
    socks: list[socket.socket] = []
    try:
        served.wait_ready()
        socks = [_stall(port) for _ in range(2)]
        until(lambda: len(list(tmp.glob(".lrcn-upload-*"))) == 2, 10, "two uploads in flight")
        extra = _stall(port)
        socks.append(extra)
        got, closed = _answer(extra, 5)
        assert got.startswith(b"HTTP/1.1 503") and b"max_uploads" in got and closed, got
        t0 = time.monotonic()
        for s in socks[:2]:
            got, closed = _answer(s, 8)
            assert got.startswith(b"HTTP/1.1 408") and closed, got
        assert time.monotonic() - t0 < 6  # upload_timeout 2 s, on a loaded machine
        assert list(tmp.glob(".lrcn-upload-*")) == []
        # an idle keep-alive connection is closed after keep_alive; past max_connections requests get 503
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got, closed = _answer(idle, 6)
        assert got.startswith(b"HTTP/1.1 200") and closed, got
        socks += [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
        time.sleep(0.5)
        probe = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(probe)
        probe.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got, _ = _answer(probe, 5)
        assert got.startswith(b"HTTP/1.1 503"), got
        for s in socks:
            s.close()
        socks = []
        until(lambda: served.get("/health") == b'{"status":"ok"}', 10, "served again once they left")
        assert served.stop()[0] == 0
    finally:
        for s in socks:
            s.close()
        served.kill()
