"""Archive throughput: plain local vc-run against vc-run --ray on 1 and on 2 Ray nodes, one CPU each.

    .venv/bin/python benchmarks/ray_archive.py [--files 40] [--clips 4] [--repeats 3] [--model M.onnx]

One run measures, on the same files: local `vc-run DIR` (one process, onnxruntime on every
core), then `vc-run DIR --ray ADDRESS` beside a real cluster of 1 node and of 2 nodes with
`--num-cpus 1` each (tests/ray_netns.py: private network and PID namespaces, so root and
`unshare`). Two figures per setting, medians over --repeats:
  - command: files / wall seconds of the whole command (Python start, joining the cluster,
    workers loading the model, all files): what a user waits for;
  - pool: files / seconds of the classification alone, the pool already up (the Ray path's
    steady throughput; for local, the same files through one VideoClassifier in-process).
Files: `vc-data synth` videos (128 px, 30 frames), each classified as --clips clips (vc-run
--clips: more work per file, as longer videos would bring); model: a random-weight convlstm exported by
vc-bench's writer (lrcn.bench.subjects; needs torch), unless --model. Prints uptime's load with
the figures: the machine may be shared.
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
        r = subprocess.run([sys.executable, "-m", "lrcn.runtime.cli", *args], capture_output=True, text=True)
        out.append(time.perf_counter() - t0)
        if r.returncode != 0:
            sys.exit(f"vc-run {' '.join(args)} failed ({r.returncode}): {r.stderr[-1500:]}")
    return out


def local_pool_seconds(model: str, files: list[str], repeats: int, clips: int) -> list[float]:
    from lrcn.runtime.classifier import VideoClassifier

    clf = VideoClassifier(model, device="cpu")
    clf.predict(files[0], clips=clips)  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for f in files:
            clf.predict(f, clips=clips)
        out.append(time.perf_counter() - t0)
    return out


def ray_pool_seconds(address: str, model: str, files: list[str], repeats: int, clips: int) -> list[float]:
    """The pool started once (one worker per CPU), then every file through it `repeats` times."""
    from lrcn.runtime.parallel import WorkerSpec
    from lrcn.runtime.ray_archive import PoolConfig, classify_on_pool, start_pool
    from lrcn.runtime.ray_cluster import cluster

    cfg = PoolConfig()
    with cluster(address) as ray:
        spec = WorkerSpec(model, "cpu", 1, 5, 60.0, clips)
        out = []
        for r in range(repeats + 1):  # the first round warms the workers up
            actors = start_pool(ray, spec, cfg)
            t0 = time.perf_counter()
            rows = list(classify_on_pool(ray, actors, files, cfg))  # kills the actors at its end
            if r:
                out.append(time.perf_counter() - t0)
            if any("error" in x for x in rows):
                sys.exit(f"a file failed on the cluster: {[x for x in rows if 'error' in x][:1]}")
    return out


def inner(a: argparse.Namespace) -> None:
    """Beside the cluster (inside ray_netns): one JSON line of seconds."""
    files = json.loads(Path(a.files_json).read_text())
    folder = str(Path(files[0]).parents[1])
    pool = ray_pool_seconds(a.inner, a.model, files, a.repeats, a.clips)
    args = [folder, "--model", a.model, "--device", "cpu", "--json", "--clips", str(a.clips), "--ray", a.inner]
    command = cli_seconds(args, a.repeats)
    print(json.dumps({"pool_s": pool, "command_s": command}), flush=True)


def on_cluster(nodes: int, a: argparse.Namespace, files_json: Path) -> dict:
    cmd = [sys.executable, str(RUNNER), "--nodes", str(nodes), "--cpus", "1", "--timeout", "1500", "--"]
    cmd += [sys.executable, __file__, "--inner", "{address}", "--model", a.model, "--files-json", str(files_json)]
    cmd += ["--repeats", str(a.repeats), "--clips", str(a.clips)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    lines = [x for x in r.stdout.splitlines() if x.startswith('{"pool_s"')]
    if r.returncode != 0 or not lines:
        sys.exit(f"the {nodes}-node run failed ({r.returncode}): {r.stderr[-2000:]}")
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
    local = {
        "pool_s": local_pool_seconds(a.model, files, a.repeats, a.clips),
        "command_s": cli_seconds(
            [str(folder), "--model", a.model, "--device", "cpu", "--json", "--clips", str(a.clips)], a.repeats
        ),
    }
    results = {"local vc-run": local, "ray, 1 node x 1 CPU": on_cluster(1, a, files_json)}
    results["ray, 2 nodes x 1 CPU"] = on_cluster(2, a, files_json)
    load_after = os.getloadavg()
    n = len(files)
    print(f"{n} files x {a.clips} clips, model {a.model}, medians of {a.repeats}")
    print(f"{'setting':24} {'command files/s':>16} {'pool files/s':>13}")
    rate = {}
    for name, r in results.items():
        rate[name] = (n / statistics.median(r["command_s"]), n / statistics.median(r["pool_s"]))
        print(f"{name:24} {rate[name][0]:16.1f} {rate[name][1]:13.1f}")
    one, two = rate["ray, 1 node x 1 CPU"], rate["ray, 2 nodes x 1 CPU"]
    print(f"2 nodes / 1 node: command {two[0] / one[0]:.2f}x, pool {two[1] / one[1]:.2f}x (target >= 1.7x)")
    print(f"ray 2 nodes / local: command {two[0] / rate['local vc-run'][0]:.2f}x")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}; cores {os.cpu_count()}")


if __name__ == "__main__":
    main()
