"""Archive throughput: plain local vc-run against vc-run --ray with 1 and with 2 one-CPU Ray nodes.

    .venv/bin/python benchmarks/ray_archive.py [--files 40] [--clips 4] [--repeats 3] [--model M.onnx]

One run, on the same files, beside one real cluster of 2 nodes with `--num-cpus 1` each
(tests/ray_netns.py: private network and PID namespaces, so root and `unshare`): local
`vc-run DIR` (one process, onnxruntime on every core), `vc-run DIR --ray ADDRESS --workers 1`
(one actor: one node's CPU, the other node idle) and `--workers 2` (one actor on each node).
The three are alternated round by round, so each sees the same load. Two figures per setting,
medians over --repeats:
  - command: files / wall seconds of the whole command (Python start, joining the cluster,
    workers loading the model, all files): what a user waits for;
  - pool: files / seconds of the classification alone, the pool already up (the Ray path's
    steady throughput; for local, the same files through one VideoClassifier in-process);
  - ms per file in a worker: the median of the rows' own total (decode to probabilities):
    when it grows with the workers, they are short of CPU, not of work from the driver.
Files: `vc-data synth` videos (128 px, 30 frames), each classified as --clips clips (vc-run
--clips: more work per file, as longer videos would bring); model: a random-weight convlstm
exported by vc-bench's writer (lrcn.bench.subjects; needs torch), unless --model. Prints the
load average with the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "tests" / "ray_netns.py"


def videos(folder: Path, n: int) -> list[str]:
    from lrcn.train.synth import SynthConfig, make_dataset

    if not folder.is_dir() or len(list(folder.rglob("*.avi"))) < n:
        classes = 4
        make_dataset(folder, SynthConfig(classes=classes, clips_per_class=-(-n // classes), seed=11), workers=1)
    return sorted(str(p) for p in folder.rglob("*.avi"))[:n]


def bench_model(workdir: Path) -> str:
    from lrcn.bench.config import BenchConfig
    from lrcn.bench.subjects import prepare

    return str(prepare("convlstm", BenchConfig(models=["convlstm"], workdir=str(workdir))).files["full"])


def cli_seconds(args: list[str], repeats: int) -> list[float]:
    """Wall seconds of `vc-run ARGS`, `repeats` times; exits if one fails (a figure of a failed run is no figure)."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "lrcn.runtime.vcrun.cli", *args], capture_output=True, text=True)
        out.append(time.perf_counter() - t0)
        if r.returncode != 0:
            sys.exit(f"vc-run {' '.join(args)} failed ({r.returncode}): {r.stderr[-1500:]}")
    return out


def inner(a: argparse.Namespace) -> None:
    """Beside the cluster (inside ray_netns): one JSON line {setting: {pool_s: [...], command_s: [...]}}."""
    from lrcn.runtime.classifier import VideoClassifier
    from lrcn.runtime.parallel import WorkerSpec
    from lrcn.runtime.ray_cluster import cluster
    from lrcn.runtime.vcrun.ray_archive import PoolConfig, classify_on_pool, start_pool

    files = json.loads(Path(a.files_json).read_text())
    folder = str(Path(files[0]).parent)
    spec = WorkerSpec(a.model, "cpu", 1, 5, 60.0, a.clips)
    names = {None: "local vc-run", 1: "ray, 1 node x 1 CPU", 2: "ray, 2 nodes x 1 CPU"}
    out: dict[str, dict[str, list[float]]] = {n: {"pool_s": [], "command_s": [], "ms": []} for n in names.values()}
    clf = VideoClassifier(a.model, device="cpu")
    with cluster(a.inner) as ray:

        def on_pool(workers: int) -> tuple[float, list[float]]:
            cfg = PoolConfig(workers=workers)
            actors = start_pool(ray, spec, cfg)
            if len(set(actors.values())) != workers:
                sys.exit(f"{workers} workers landed on {len(set(actors.values()))} nodes")
            t0 = time.perf_counter()
            rows = list(classify_on_pool(ray, actors, files, cfg))  # ends the actors
            if any("error" in x for x in rows):
                sys.exit(f"a file failed on the cluster: {[x for x in rows if 'error' in x][:1]}")
            return time.perf_counter() - t0, [x["ms"]["total"] for x in rows]

        clf.predict(files[0], clips=a.clips)  # warm-ups, not counted
        on_pool(1), on_pool(2)
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            out[names[None]]["ms"] += [clf.predict(f, clips=a.clips).timings["total"] for f in files]
            out[names[None]]["pool_s"].append(time.perf_counter() - t0)
            for w in (1, 2):
                seconds, ms = on_pool(w)
                out[names[w]]["pool_s"].append(seconds)
                out[names[w]]["ms"] += ms
    base = [folder, "--model", a.model, "--device", "cpu", "--json", "--clips", str(a.clips)]
    for _ in range(a.repeats):
        for w in (None, 1, 2):
            args = base if w is None else [*base, "--ray", a.inner, "--workers", str(w)]
            out[names[w]]["command_s"] += cli_seconds(args, 1)
    print(json.dumps(out), flush=True)


def on_cluster(a: argparse.Namespace, files_json: Path) -> dict:
    cmd = [sys.executable, str(RUNNER), "--nodes", "2", "--cpus", "1", "--timeout", "3000", "--"]
    cmd += [sys.executable, __file__, "--inner", "{address}", "--model", a.model, "--files-json", str(files_json)]
    cmd += ["--repeats", str(a.repeats), "--clips", str(a.clips)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3300)
    lines = [x for x in r.stdout.splitlines() if x.startswith('{"local')]
    if r.returncode != 0 or not lines:
        sys.exit(f"the run beside the cluster failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--model", default=None, help="An exported M.onnx (default: a random-weight convlstm).")
    ap.add_argument("--workdir", default=str(REPO / "artifacts" / "bench"))
    ap.add_argument("--inner", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--files-json", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        return inner(a)
    work = Path(a.workdir)
    a.model = a.model or bench_model(work)
    files = videos(work / "ray_archive" / "videos", a.files)
    folder = work / "ray_archive" / "set"  # exactly these files, as one folder for vc-run DIR
    if folder.is_dir():
        for p in folder.iterdir():
            p.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files):
        (folder / f"{i:03d}.avi").symlink_to(f)
    files = sorted(str(p) for p in folder.iterdir())
    files_json = work / "ray_archive" / "files.json"
    files_json.write_text(json.dumps(files))
    load_before = os.getloadavg()
    results = on_cluster(a, files_json)
    load_after = os.getloadavg()
    n = len(files)
    print(f"{n} files x {a.clips} clips, model {a.model}, medians of {a.repeats}")
    print(f"{'setting':24} {'command files/s':>16} {'pool files/s':>13} {'ms per file in a worker':>24}")
    rate = {}
    for name, r in results.items():
        rate[name] = (n / statistics.median(r["command_s"]), n / statistics.median(r["pool_s"]))
        print(f"{name:24} {rate[name][0]:16.1f} {rate[name][1]:13.1f} {statistics.median(r['ms']):24.0f}")
    one, two = rate["ray, 1 node x 1 CPU"], rate["ray, 2 nodes x 1 CPU"]
    print(f"2 nodes / 1 node: command {two[0] / one[0]:.2f}x, pool {two[1] / one[1]:.2f}x (target >= 1.7x)")
    print(f"ray 2 nodes / local: command {two[0] / rate['local vc-run'][0]:.2f}x")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}; cores {os.cpu_count()}")


if __name__ == "__main__":
    main()
