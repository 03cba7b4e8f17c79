"""Issue 26, findings 7 and 8: the HTTP sink never follows a redirect, and secrets in sink URLs are used,
never shown. Loopback servers and a real mosquitto broker (skipped when not installed)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from helpers import vc_run, write_avi
from mqtt_broker import MOSQUITTO, Broker

from lrcn.runtime.sinks import open_sink

EVENT = {"type": "event", "phase": "start", "stream": "door", "label": "fight"}


class Hook:
    """A loopback HTTP server: POST /in answers `status` (a 301 to /elsewhere when 301); records every request."""

    def __init__(self, status: int = 200, need_auth: str | None = None):
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                hook.requests.append((self.command, self.path, self.headers.get("Authorization")))
                if need_auth is not None and self.headers.get("Authorization") != need_auth:
                    self.send_response(401)
                elif self.path.startswith("/in") and status == 301:
                    self.send_response(301)
                    self.send_header("Location", "/elsewhere")
                else:
                    self.send_response(status if self.path.startswith("/in") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_redirect_is_not_followed_and_counts_as_failed():
    """The old sink followed the 301 with an empty GET to /elsewhere and counted the event delivered."""
    hook = Hook(301)
    try:
        sink = open_sink(f"http://127.0.0.1:{hook.port}/in#retries=2,backoff=0.01")
        sink.emit(EVENT)
        s = sink.close(5.0)
    finally:
        hook.close()
    assert (s.delivered, s.failed) == (0, 1)
    assert "HTTP 301" in s.note and "redirect" in s.note
    assert [r[:2] for r in hook.requests] == [("POST", "/in")]  # once (a 3xx is not retried), and nothing elsewhere


def _clip(tmp_path):
    return write_avi(tmp_path / "door.avi", [np.full((24, 32, 3), 9 * i, np.uint8) for i in range(12)])


def test_credentials_in_an_http_url_are_sent_as_basic_auth_and_never_shown(tmp_path, fake):
    """user:pass@ failed before ("Name or service not known"), and the summary printed the whole URL, key and all."""
    auth = "Basic " + base64.b64encode(b"ann:s3cr%t").decode()
    hook = Hook(200, need_auth=auth)
    url = f"http://ann:s3cr%25t@127.0.0.1:{hook.port}/in/hook?api_key=K123#retries=0"
    try:
        sink = open_sink(url)
        assert sink.name == f"http://127.0.0.1:{hook.port}/in/hook"
        sink.emit(EVENT)
        s = sink.close(5.0)
        r = vc_run(_clip(tmp_path), "--model", fake, "--device", "cpu", "--sink", url, "--min-event", "0")
    finally:
        hook.close()
    assert (s.delivered, s.failed) == (1, 0)
    assert hook.requests[0] == ("POST", "/in/hook?api_key=K123", auth)  # the query still goes to the server
    assert r.exit_code == 0, r.output
    line = next(x for x in r.stderr.splitlines() if x.startswith("sink "))
    assert re.match(rf"sink http://127\.0\.0\.1:{hook.port}/in/hook: delivered [1-9]\d*, failed 0, dropped 0$", line)
    assert "s3cr" not in r.output and "K123" not in r.output and "ann" not in r.output


def test_credentials_from_environment_variables(monkeypatch):
    hook = Hook(200, need_auth="Bearer t0ken")
    monkeypatch.setenv("HOOK_TOKEN", "t0ken")
    try:
        sink = open_sink(f"http://127.0.0.1:{hook.port}/in#token_env=HOOK_TOKEN,retries=0")
        sink.emit(EVENT)
        assert sink.close(5.0).delivered == 1
        monkeypatch.setenv("HOOK_AUTH", "bob:pw")
        sink = open_sink(f"http://127.0.0.1:{hook.port}/in#auth_env=HOOK_AUTH,retries=0")
        sink.emit(EVENT)
        assert sink.close(5.0).failed == 1  # basic auth where the server wants the token: a 401, not retried
    finally:
        hook.close()
    assert hook.requests[-1][2] == "Basic " + base64.b64encode(b"bob:pw").decode()
    with pytest.raises(ValueError, match="HOOK_MISSING, but that environment variable is unset"):
        open_sink("http://127.0.0.1:9/in#auth_env=HOOK_MISSING")


@pytest.mark.parametrize(
    "url,name",
    [
        ("https://u:p@example.test:8443/a/b?api_key=K#x", "https://example.test:8443/a/b"),
        ("mqtt://u:p@[::1]:1883/lrcn", "mqtt://[::1]:1883/lrcn"),
        ("http://h/\x1b[2Jx?k=1", "http://h/?[2Jx"),
    ],
)
def test_display_url_drops_user_info_query_and_fragment(url, name):
    from lrcn.runtime.sinks import display_url

    assert display_url(url) == name


needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto not installed (apt-get install mosquitto)")


@needs_mosquitto
def test_mqtt_credentials_from_the_url_log_in_to_a_broker_that_requires_them(tmp_path):
    broker = Broker(tmp_path / "broker")
    pw = tmp_path / "passwd"
    import shutil

    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.skip("mosquitto_passwd not installed")
    subprocess.run([passwd, "-b", "-c", str(pw), "ann", "s3cret"], check=True)
    text = broker.conf.read_text().replace("allow_anonymous true", f"allow_anonymous false\npassword_file {pw}")
    broker.conf.write_text(text)
    broker.start()
    try:
        good = open_sink(f"mqtt://ann:s3cret@127.0.0.1:{broker.port}/lrcn")
        bad = open_sink(f"mqtt://ann:wrong@127.0.0.1:{broker.port}/lrcn")
        assert good.wait_connected(10) and not bad.wait_connected(1)
        assert "s3cret" not in good.name and good.name == f"mqtt://127.0.0.1:{broker.port}/lrcn"
        good.emit(EVENT)
        assert good.close(5.0).delivered == 1
        assert bad.close(0.5).delivered == 0
    finally:
        broker.stop()


def _self_signed(folder):
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return key, cert


@needs_mosquitto
def test_mqtts_verifies_the_broker_certificate(tmp_path):
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    key, cert = _self_signed(tmp_path)
    broker = Broker(tmp_path / "broker")
    broker.conf.write_text(broker.conf.read_text() + f"certfile {cert}\nkeyfile {key}\n")
    broker.start()
    try:
        trusted = open_sink(f"mqtts://127.0.0.1:{broker.port}/lrcn#ca={cert}")
        untrusted = open_sink(f"mqtts://127.0.0.1:{broker.port}/lrcn")  # the system CAs do not know this one
        assert trusted.wait_connected(10) and not untrusted.wait_connected(1.5)
        trusted.emit(EVENT)
        assert trusted.close(5.0).delivered == 1
        assert untrusted.close(0.5).note == "never connected to the broker"
        assert trusted.name.startswith("mqtts://")
    finally:
        broker.stop()


# ------------------------------------------------------------------ findings 11, 12, 13: the jsonl sink


def test_jsonl_refuses_a_planted_symlink(tmp_path):
    """The old sink opened with "ab" and appended through the link into the victim."""
    from lrcn.core.errors import LrcnError

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "events.jsonl").symlink_to(victim)
    with pytest.raises(LrcnError, match=r"events\.jsonl: cannot open for appending \(a symbolic link: refused\)$"):
        open_sink(f"jsonl:{tmp_path / 'events.jsonl'}")
    assert victim.read_text() == "precious\n"


def test_a_failed_rotation_keeps_the_sink_open_and_is_retried(tmp_path):
    """The old sink closed its file before a rename that failed, and every later record failed for good."""
    path = tmp_path / "e.jsonl"
    blocker = tmp_path / "e.jsonl.1"
    blocker.mkdir()
    (blocker / "x").write_text("a non-empty folder: os.replace onto it fails")
    sink = open_sink(f"jsonl:{path}#max_mb=0.0001,keep=1")  # 104 bytes
    for i in range(6):
        sink.emit({**EVENT, "i": i})
    assert (sink.summary.delivered, sink.summary.failed) == (6, 0)
    assert "rotation failed" in sink.summary.note
    (blocker / "x").unlink()
    blocker.rmdir()
    sink.emit({**EVENT, "i": 6})  # the retry succeeds now
    s = sink.close()
    assert (s.delivered, s.failed) == (7, 0)
    assert blocker.is_file() and len(blocker.read_text().splitlines()) == 6
    assert [json.loads(x)["i"] for x in path.read_text().splitlines()] == [6]


def test_a_full_disk_is_counted_and_reported_without_a_traceback(tmp_path, fake):
    """jsonl:/dev/full: the old close thread raised ENOSPC from the buffer's flush (a traceback) and the summary
    said "delivered 0, failed 0"."""
    r = vc_run(_clip(tmp_path), "--model", fake, "--device", "cpu", "--sink", "jsonl:/dev/full", "--min-event", "0")
    assert "Traceback" not in r.output and "Error" not in r.output
    line = next(x for x in r.stderr.splitlines() if x.startswith("sink "))
    assert re.match(
        r"sink jsonl:/dev/full: delivered 0, failed [1-9]\d*, dropped 0 \(last error: No space left on device\)$", line
    )


# ------------------------------------------------------------------ finding 14: --save


def test_save_is_created_at_the_check_and_a_symlink_planted_later_is_replaced(tmp_path, fake, monkeypatch):
    """The old code checked --save's path at start but opened it after the model loaded: a symlink planted in
    between was written through (here: over `victim`)."""
    from lrcn.runtime.vcrun import cli

    out, victim = tmp_path / "out.mp4", tmp_path / "victim.txt"
    victim.write_text("precious\n")
    seen = {}
    original = cli._classifier

    def plant_then_load(*args, **kw):
        seen["created"] = out.is_file() and not out.is_symlink() and out.stat().st_size == 0
        out.unlink(missing_ok=True)
        out.symlink_to(victim)
        return original(*args, **kw)

    monkeypatch.setattr(cli, "_classifier", plant_then_load)
    r = vc_run(_clip(tmp_path), "--model", fake, "--device", "cpu", "--save", out)
    assert r.exit_code == 0, r.output
    assert seen == {"created": True}
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and out.stat().st_size > 0
    assert not list(tmp_path.glob(".vc-run-save-*"))


def test_save_left_empty_by_a_failed_run_is_removed_and_a_non_utf8_name_is_refused(tmp_path, fake):
    out = tmp_path / "out.mp4"
    r = vc_run(tmp_path / "missing.avi", "--model", fake, "--device", "cpu", "--save", out)
    assert r.exit_code == 1 and not out.exists()
    bad = os.fsdecode(os.fsencode(tmp_path) + b"/m\xe9dia.mp4")
    r = vc_run(_clip(tmp_path), "--model", fake, "--device", "cpu", "--save", bad)
    assert r.exit_code == 2 and "not valid UTF-8" in r.output and not os.path.lexists(bad)


def test_a_sink_whose_close_raises_is_one_summary_line(capsys):
    from lrcn.runtime.run_events import EventRouter
    from lrcn.runtime.sinks import SinkSummary

    class Broken:
        name, wants_predictions = "broken:", False

        def emit(self, record):
            pass

        def close(self, timeout=2.0) -> SinkSummary:
            raise OSError(28, "No space left on device")

    router = EventRouter(["a"], sinks=[Broken()])
    router.close(0.5)
    assert router.summaries[0].note == "close failed: OSError: [Errno 28] No space left on device"
    assert "Traceback" not in capsys.readouterr().err
