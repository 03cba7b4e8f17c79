"""Load on vc-serve's POST /classify: N uploads at concurrency C, request latency p50/p95, the service's memory.

    python benchmarks/serve_classify.py --model M.onnx --clips DIR [--requests 200] [--concurrency 8]
    python benchmarks/serve_classify.py --url http://127.0.0.1:8000 --clips DIR   # a service already running

With --model it starts `vc-serve --model M.onnx` on a free loopback port (CPU, no streams),
warms it with one request per concurrent slot, then sends the uploads (the clips in turn) and
prints one JSON line: requests, errors, p50/p95/max ms, requests/s, and the service's resident
memory after the warm-up and after the run (Linux /proc). Measures the machine it runs on as
it is: on a shared machine, say so beside the figures.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".webm", ".mov")


def post(url: str, data: bytes, name: str, token: str | None = None, timeout: float = 120.0) -> tuple[int, dict, float]:
    """(status, JSON answer, seconds) of one upload."""
    req = urllib.request.Request(
        f"{url}/classify?name={urllib.request.quote(name)}",
        data=data,
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read()), time.perf_counter() - t0
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), time.perf_counter() - t0


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def load(url: str, clips: list[Path], requests: int, concurrency: int, token: str | None = None) -> dict:
    """Send `requests` uploads (clips in turn) `concurrency` at a time; answers in order, with latencies."""
    blobs = [(c.name, c.read_bytes()) for c in clips]
    jobs = [blobs[i % len(blobs)] for i in range(requests)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda job: post(url, job[1], job[0], token), jobs))
    wall = time.perf_counter() - t0
    ms = [r[2] * 1e3 for r in results]
    return {
        "requests": requests,
        "concurrency": concurrency,
        "errors": sum(r[0] != 200 for r in results),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "max_ms": round(max(ms), 1),
        "per_s": round(requests / wall, 1),
        "answers": [(job[0], r[0], r[1]) for job, r in zip(jobs, results)],
    }


def start_service(model: str, threads: int | None = None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "lrcn.serve.cli", "--model", model, "--device", "cpu", "--port", str(port)]
    proc = subprocess.Popen(cmd + (["--threads", str(threads)] if threads else []), stderr=subprocess.DEVNULL)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/ready", timeout=2).read()
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"vc-serve exited {proc.returncode}") from None
            time.sleep(0.25)
    proc.kill()
    raise SystemExit("vc-serve not ready within 60 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--url")
    ap.add_argument("--token")
    ap.add_argument("--clips", required=True, help="A folder of video clips (searched recursively).")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    clips = sorted(p for p in Path(args.clips).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips or not (args.model or args.url):
        raise SystemExit("give --clips DIR with videos, and --model M.onnx or --url")
    proc, url = start_service(args.model, args.threads) if args.model else (None, args.url.rstrip("/"))
    try:
        rss0 = rss_mb(proc.pid) if proc else None
        load(url, clips, args.concurrency, args.concurrency, args.token)  # warm-up: one per slot
        rss1 = rss_mb(proc.pid) if proc else None
        out = load(url, clips, args.requests, args.concurrency, args.token)
        out.pop("answers")
        rss2 = rss_mb(proc.pid) if proc else None
        out.update(rss_start_mb=rss0, rss_warm_mb=rss1, rss_after_mb=rss2, clips=len(clips))
        print(json.dumps(out))
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
