"""Issue 26, findings 1 and 2: hostile stream sources and file names that are not UTF-8.

A source is text that reaches another protocol (FFmpeg writes a URL into its RTSP or HTTP
request line): a CR LF in it must never reach a listener. A file name of Latin-1 bytes (old NAS
shares, camera SD cards) must never crash the process (OpenCV's bindings segfault on it).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import vc_run, write_avi

from lrcn.core.errors import SourceError
from lrcn.runtime import sources as S
from lrcn.runtime.streamlist import read_stream_list


class RawListener:
    """A TCP listener on loopback that records every byte any client sends (no protocol at all)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(0.5)
            with conn:
                deadline = time.monotonic() + 3.0  # a client sends its request at once; bounded anyway
                while time.monotonic() < deadline:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        break
                    if not data:
                        break
                    self.received += data

    def close(self) -> bytes:
        time.sleep(0.3)  # a connection made just before this still gets accepted and read
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        return self.received


@pytest.fixture
def listener():
    rl = RawListener()
    yield rl
    rl.close()


INJECTED = "\r\nSET pwned 1\r\nQUIT"


def test_a_url_with_crlf_never_reaches_the_listener(listener, fake):
    """vc-run with rtsp://127.0.0.1:PORT/x<CR><LF>SET pwned 1...: one error line, nothing sent (the old code let
    FFmpeg write `SET pwned 1` and `QUIT` as lines of its OPTIONS request)."""
    url = f"rtsp://127.0.0.1:{listener.port}/x{INJECTED}"
    r = vc_run(url, "--model", fake, "--device", "cpu", "--stream-timeout", "2", "--reconnect", "0")
    got = listener.close()
    assert b"pwned" not in got and b"QUIT" not in got
    assert listener.connections == 0
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines()[-1] == (
        f"error: rtsp://127.0.0.1:{listener.port}/x??SET pwned 1??QUIT: control characters are not allowed in a source"
    )
    with pytest.raises(SourceError, match="control characters"):
        S.open_source(f"http://127.0.0.1:{listener.port}/x{INJECTED}")


@pytest.mark.parametrize("bad", ["\tSET pwned", " SET pwned", "\x0bSET pwned", "\x85SET pwned", "\u2028SET pwned"])
def test_a_streams_list_line_with_whitespace_in_a_url_is_refused_by_file_and_line(tmp_path, listener, bad):
    lst = tmp_path / "cams.streams"
    lst.write_text(f"# cams\ndoor = rtsp://127.0.0.1:{listener.port}/x{bad}\n", encoding="utf-8")
    with pytest.raises(SourceError) as e:
        read_stream_list(lst)
    msg = str(e.value)
    assert msg.startswith(f"{lst}:2: rtsp://127.0.0.1:{listener.port}/x") and "\n" not in msg
    assert "not allowed" in msg
    assert listener.close() == b""


@pytest.mark.parametrize(
    "source,error",
    [
        ("²", "²: camera indices are ASCII digits, 0 to 1023"),
        ("1" * 23, f"{'1' * 23}: camera indices are ASCII digits, 0 to 1023"),
        ("1024", "1024: camera indices are ASCII digits, 0 to 1023"),
        ("rtsp://:554/x", "rtsp://:554/x: names no host"),
        ("rtsp://h:70000/x", "rtsp://h:70000/x: not a valid URL (Port out of range 0-65535)"),
        ("a\x1b]52;c;aGk=\x07.avi", "a?]52;c;aGk=?.avi: control characters are not allowed in a source"),
    ],
)
def test_bad_sources_fail_in_one_printable_line(source, error):
    with pytest.raises(SourceError) as e:
        S.check_source(source)
    assert str(e.value) == error


def test_camera_indices_and_files_from_the_cli_and_from_the_api(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert S.check_source("0") == 0 and S.check_source(1023) == 1023
    (tmp_path / "7").write_bytes(b"not a camera")
    assert S.check_source("7") == "7"  # the CLI: an existing file named 7 stays a file, as before
    assert S.check_source("7", from_api=True) == 7  # the API: digits are always a camera, never a local file
    with pytest.raises(SourceError, match="not a file path"):
        S.check_source("clip.avi", from_api=True)
    with pytest.raises(SourceError, match="0 to 1023"):
        S.check_source(-1)


def test_a_url_with_the_injection_is_refused_before_opencv_sees_it(monkeypatch):
    opened = []
    monkeypatch.setattr(S.cv2, "VideoCapture", lambda *a: opened.append(a))
    for url in (f"rtsp://127.0.0.1:9/x{INJECTED}", "http://127.0.0.1:9/a b", "rtsp://127.0.0.1:9/\u202ex"):
        with pytest.raises(SourceError):
            S.open_source(url)
    assert opened == []


# ------------------------------------------------------------------ finding 2: names that are not UTF-8


def _clips_with_a_latin1_name(folder: Path) -> bytes:
    """Two good clips and a third whose name is m\\xe9dia.avi in Latin-1 bytes; returns that name's bytes."""
    folder.mkdir()
    frames = [np.full((24, 32, 3), 20 * i, np.uint8) for i in range(8)]
    for name in ("a.avi", "b.avi", "tmp.avi"):
        write_avi(folder / name, frames)
    bad = os.fsencode(folder) + b"/m\xe9dia.avi"
    os.rename(os.fsencode(folder / "tmp.avi"), bad)
    return bad


@pytest.mark.parametrize("mode", [[], ["--stream"]])
def test_a_file_name_that_is_not_utf8_is_classified_and_the_others_too(tmp_path, fake, mode):
    """The old code died of SIGSEGV inside cv2.VideoCapture (exit 139), with no result for the good files; run in
    a subprocess so that a crash fails this test instead of killing pytest."""
    import json
    import subprocess
    import sys

    _clips_with_a_latin1_name(tmp_path / "v")
    csv = tmp_path / "out.csv"
    cmd = [sys.executable, "-m", "lrcn.runtime.vcrun.cli", str(tmp_path / "v"), "--model", str(fake), "--device", "cpu"]
    cmd += [*mode, "--json", "--csv", str(csv)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run(cmd, capture_output=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    rows = [json.loads(x) for x in r.stdout.decode().splitlines() if '"label"' in x]
    sources = {row.get("source") or row.get("stream") for row in rows}
    assert {Path(s).stem for s in sources} == {"a", "b", "m\udce9dia"}
    text = csv.read_bytes().decode("utf-8")  # valid UTF-8: the byte is written as \xe9
    assert "m\\xe9dia.avi" in text and text.count("\r\n") == len(rows) + 1
    assert "\udce9" not in r.stderr.decode("utf-8", "surrogateescape")  # terminal lines show it as ?


def test_the_private_link_is_removed_and_utf8_names_are_opened_as_they_are(tmp_path):
    from lrcn.runtime.decode import native_path
    from lrcn.runtime.video import read_clip

    bad = os.fsdecode(_clips_with_a_latin1_name(tmp_path / "v"))
    with native_path(bad) as p:
        assert p != bad and p.isascii() and os.path.islink(p) and oct(os.stat(Path(p).parent).st_mode)[-3:] == "700"
    assert not os.path.lexists(p) and not Path(p).parent.exists()
    with native_path(str(tmp_path / "v" / "a.avi")) as p:
        assert p == str(tmp_path / "v" / "a.avi")
    assert read_clip(bad, 4, 32).frames.shape == (4, 32, 32, 3)


@pytest.mark.slow
def test_vc_train_survives_a_file_name_that_is_not_utf8(tmp_path):
    """The old code crashed in OpenCV (or in the cache key's encode) on such a name; now it trains on it."""
    import json

    from conftest import train_tiny

    from lrcn.train.synth import SynthConfig, make_dataset

    data = tmp_path / "data"
    make_dataset(data, SynthConfig(classes=2, clips_per_class=6, frames=8, size=32, seed=1))
    first = sorted((data / sorted(os.listdir(data))[0]).iterdir())[0]
    bad = os.fsencode(first.parent) + b"/m\xe9dia" + os.fsencode(first.suffix)
    os.rename(os.fsencode(first), bad)
    run = train_tiny(data, tmp_path / "run", tmp_path / "cache", epochs=1)
    splits = json.loads((run / "splits.json").read_text())
    skipped = json.loads((run / "skipped.json").read_text())
    paths = [e["path"] for v in splits.values() for e in v] + [e["path"] for e in skipped]
    assert os.fsdecode(bad) in paths and not skipped  # decoded and used, through the private link


def test_a_stream_urls_credentials_and_query_never_show(monkeypatch):
    """rtsp://user:pass@cam/...?token=...: the stream's name (its lines, errors and JSON summary) carries neither."""

    class Unopened:
        def isOpened(self):
            return False

        def release(self):
            pass

    monkeypatch.setattr(S.cv2, "VideoCapture", lambda *a: Unopened())
    with pytest.raises(SourceError) as e:
        S.open_source("rtsp://ann:s3cret@127.0.0.1:9/live?token=T0K", timeout_s=0.5)
    assert str(e.value) == "rtsp://127.0.0.1:9/live: cannot be opened (OpenCV cannot open it)"
