"""vc-serve under load (loopback): 200 uploads at concurrency 8 answer as vc-run does, memory stays put,
and garbage uploads get 4xx while the service goes on."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import REPO
from helpers import fake_model
from serve_fixtures import Served, free_port

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")

spec = importlib.util.spec_from_file_location("serve_classify", REPO / "benchmarks" / "serve_classify.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_200_uploads_at_concurrency_8_equal_vc_run_and_memory_stays(tiny_data, tmp_path):
    model = fake_model(tmp_path / "model")
    clips = sorted(tiny_data.rglob("*.avi"))[::6]  # 6 clips, 2 per class
    rows = subprocess.run(
        [
            sys.executable,
            "-m",
            "lrcn.runtime.vcrun.cli",
            *map(str, clips),
            "--json",
            "--model",
            str(model),
            "--device",
            "cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    want = {json.loads(r)["source"].rsplit("/", 1)[-1]: json.loads(r) for r in rows}
    port = free_port()
    served = Served(["--model", str(model), "--device", "cpu", "--port", str(port)], port)
    try:
        served.wait_ready()
        bench.load(served.url, clips, 16, 8)  # warm-up: onnxruntime and the allocator reach their working size
        before = bench.rss_mb(served.proc.pid)
        out = bench.load(served.url, clips, 200, 8)
        after = bench.rss_mb(served.proc.pid)
        garbage = [
            b"",
            b"not a video\n" * 100,
            clips[0].read_bytes()[:500],
            bytes(100 * 1024 * 1024),
        ]  # over the 50 MB default
        codes = [bench.post(served.url, g, "junk.avi")[0] for g in garbage]
        status, answer, _ = bench.post(served.url, clips[0].read_bytes(), clips[0].name)
        print(
            f"\n200 uploads at concurrency 8: p50 {out['p50_ms']} ms, p95 {out['p95_ms']} ms, {out['per_s']}/s; "
            f"RSS {before:.0f} -> {after:.0f} MB"
        )
        assert out["errors"] == 0
        for name, code, got in out["answers"]:
            assert code == 200
            for k in ("label", "probability", "top_k", "clips", "frames"):
                assert got[k] == want[name][k], (name, k)
        assert after - before < 50, (before, after)
        assert all(400 <= c < 500 for c in codes), codes
        assert status == 200 and answer["label"] == want[clips[0].name]["label"]
        assert served.stop()[0] == 0
    finally:
        served.kill()
