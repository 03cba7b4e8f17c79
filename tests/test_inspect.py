"""vc-inspect: the text summary (torch-free), Netron on localhost until Ctrl-C, and the graph in a browser."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import REPO
from helpers import launch_chromium, playwright_or_skip
from typer.testing import CliRunner

runner = CliRunner()


def inspect_app():
    from lrcn.export.inspect_cli import app

    return app


def test_summary_shows_io_dims_opset_ops_params_size_and_metadata(exported_tiny_run):
    r = runner.invoke(inspect_app(), [str(exported_tiny_run), "--summary-only"])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "frames  float32  [batch, time, 3, 32, 32]" in out
    assert "logits  float32  [batch, 3]" in out and "probs   float32  [batch, 3]" in out
    assert "opset ai.onnx 18" in out and "LSTM 1" in out and "Conv 4" in out
    import math

    import onnx

    params = sum(math.prod(t.dims) for t in onnx.load(str(exported_tiny_run)).graph.initializer)
    assert params > 1000 and f"parameters {params:,} in" in out and " KB " in out
    assert "kind full · family convlstm · precision fp32" in out and "classes (3):" in out
    assert "parts: encoder convlstm.encoder.onnx, head convlstm.head.onnx, step convlstm.step.onnx" in out
    assert "Netron" not in out


def test_summary_as_json(exported_tiny_run):
    r = runner.invoke(
        inspect_app(), [str(exported_tiny_run.with_name("convlstm.step.onnx")), "--summary-only", "--json"]
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert [(t["name"], t["dims"]) for t in info["inputs"]] == [
        ("frame", ["batch", 3, 32, 32]),
        ("h", [1, "batch", 12]),
        ("c", [1, "batch", 12]),
    ]
    assert (
        info["metadata"]["kind"] == "step"
        and info["size_bytes"] == exported_tiny_run.with_name("convlstm.step.onnx").stat().st_size
    )


def test_summary_needs_no_torch(exported_tiny_run):
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from lrcn.export.inspect import format_summary, summarize\n"
        f"print(format_summary(summarize({str(exported_tiny_run)!r})))\n"
        "assert 'torch' not in [m.split('.')[0] for m, v in sys.modules.items() if v is not None]\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "[batch, time, 3, 32, 32]" in r.stdout


def test_not_a_model_is_one_line(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"\x00\x01 not protobuf at all" * 10)
    for path, needle in ((bad, "not an ONNX model"), (tmp_path / "none.onnx", "no such file")):
        r = runner.invoke(inspect_app(), [str(path), "--summary-only"])
        assert r.exit_code == 1 and needle in r.output and "Traceback" not in r.output, r.output


@pytest.mark.slow
def test_serves_netron_on_localhost_until_ctrl_c(exported_tiny_run):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lrcn.export.inspect_cli", str(exported_tiny_run), "--no-browse", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        url, deadline = None, time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("Netron: "):
                url = line.split()[1]
        assert url and url.startswith("http://127.0.0.1:"), "no Netron URL printed"
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and b"netron" in page.read().lower()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_vc_export_inspect_prints_the_summary_and_serves(tiny_run, tmp_path, monkeypatch):
    import netron

    from lrcn.export.cli import app

    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    monkeypatch.setattr(netron, "wait", lambda: None)  # the test is the Ctrl-C
    r = runner.invoke(app, ["--run", str(tiny_run), "--no-stream", "--out", str(tmp_path / "m.onnx"), "--inspect"])
    try:
        assert r.exit_code == 0, r.output
        assert "parity ok convlstm" in r.output and "frames  float32  [batch, time, 3, 32, 32]" in r.output
        url = next(line.split()[1] for line in r.output.splitlines() if line.startswith("Netron: "))
        assert opened == [url]
    finally:
        netron.stop()


@pytest.mark.slow
def test_netron_page_shows_the_graph_in_headless_chromium(exported_tiny_run, tmp_path):
    sync_api = playwright_or_skip()
    from lrcn.export.inspect import serve

    served = serve(exported_tiny_run, port=0)
    url = served.url
    try:
        with sync_api.sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_context().new_page()  # a fresh profile: Netron asks for consent first
                page.goto(url)
                accept, graph = page.get_by_text("Accept"), page.locator("g.node")
                graph.or_(accept).first.wait_for(timeout=30_000)
                if accept.count() and accept.first.is_visible():
                    accept.first.click()
                graph.first.wait_for(timeout=30_000)
                assert page.locator("g.node").count() >= 20
                assert page.locator("g.node", has_text="LSTM").count() == 1
                page.screenshot(path=str(tmp_path / "netron.png"))
            finally:
                browser.close()
    finally:
        served.close()
