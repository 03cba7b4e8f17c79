"""vc-run --ray: files classified on a real Ray cluster (2 nodes on loopback) print what a local run prints.

The cluster runs in private network and PID namespaces (tests/ray_netns.py: root and `unshare`),
so nothing leaves loopback and `ray stop` can only reach this cluster's processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from helpers import error_lines, fake_model, vc_run, write_avi

RUNNER = REPO / "tests" / "ray_netns.py"


def rows(stdout: str) -> list[dict]:
    """The JSON lines, without the timings (the only thing allowed to differ); stdout holds nothing else."""
    lines = [x for x in stdout.splitlines() if x.strip()]
    assert all(x.startswith("{") for x in lines), [x for x in lines if not x.startswith("{")][:3]
    out = [json.loads(x) for x in lines]
    for r in out:
        r.pop("ms", None)
    return out


def assert_same_rows(a: list[dict], b: list[dict]) -> None:
    assert [r["source"] for r in a] == [r["source"] for r in b]
    for x, y in zip(a, b):
        assert ("error" in x) == ("error" in y) and x.get("error") == y.get("error"), (x, y)
        if "error" not in x:
            assert x["label"] == y["label"] and (x["clips"], x["frames"]) == (y["clips"], y["frames"]), (x, y)
            assert [n for n, _ in x["top_k"]] == [n for n, _ in y["top_k"]]
            assert np.allclose([p for _, p in x["top_k"]], [p for _, p in y["top_k"]], atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, Path]:
    """(a fake model, a folder of 24 small clips of different content and a broken one)."""
    base = tmp_path_factory.mktemp("archive")
    model = fake_model(base / "model")
    rng = np.random.default_rng(7)
    clips = base / "clips"
    clips.mkdir()
    for i in range(24):  # a colour per clip: the fake model's answer depends on the mean colour
        tint = rng.integers(0, 255, size=3)
        frames = [np.clip(tint + rng.integers(-40, 40, (24, 32, 3)), 0, 255).astype(np.uint8) for _ in range(10)]
        write_avi(clips / f"clip{i:02d}.avi", frames)
    (clips / "clip05b.avi").write_bytes(b"RIFF not really a video")
    return model, clips


def cluster_or_skip() -> None:
    pytest.importorskip("ray")
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("the Ray cluster tests need root, unshare and ip (a private network namespace)")


def on_cluster(*args, nodes: int = 2, kill: tuple[str, int] | None = None, timeout: float = 240.0):
    """`vc-run ARGS` beside a fresh cluster of `nodes` nodes in its own namespaces; the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, str(RUNNER), "--nodes", str(nodes), "--cpus", "1", "--timeout", str(timeout)]
    cmd += [f"--{kill[0]}-after", str(kill[1])] if kill else []  # kill-worker, kill-node, freeze-node
    cmd += ["--", sys.executable, "-m", "lrcn.runtime.vcrun.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout + 120)


def test_the_runtime_runs_and_says_so_without_ray(archive):
    """Ray and pyarrow blocked: importing vc-run pulls in neither, clip mode works, --ray is one line."""
    model, clips = archive
    code = (
        'import sys; sys.modules["ray"] = None; sys.modules["pyarrow"] = None; sys.modules["torch"] = None\n'
        "sys.path.insert(0, 'tests')\n"
        "from helpers import vc_run\n"
        "import lrcn.runtime.vcrun.cli, lrcn.runtime.vcrun.ray_archive, lrcn.runtime.vcrun.parquet\n"
        f"r = vc_run({str(clips / 'clip00.avi')!r}, '--model', {str(model)!r}, '--json')\n"
        "print('LOCAL', r.exit_code, r.stdout.count('\"label\"'))\n"
        f"r = vc_run({str(clips)!r}, '--model', {str(model)!r}, '--ray', 'local')\n"
        "print('RAY', r.exit_code, repr(r.stderr))\n"
        f"r = vc_run({str(clips / 'clip00.avi')!r}, '--model', {str(model)!r}, '--parquet', 'x.parquet')\n"
        "print('PARQUET', r.exit_code, repr(r.stderr))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert out["LOCAL"] == "0 1"
    for key in ("RAY", "PARQUET"):
        code_, stderr = out[key].split(" ", 1)
        stderr = eval(stderr)  # the repr printed above
        assert code_ == "1" and stderr.count("\n") == 1 and "pip install 'lrcn[cluster]'" in stderr, stderr
    assert not (REPO / "x.parquet").exists()


def test_what_ray_prints_while_connected_goes_to_stderr(monkeypatch, capsys):
    """Ray's driver prints the workers' failures to sys.stdout from a thread of its own: inside
    `cluster` that lands on stderr, and the rows a caller writes to the stdout it took before stay whole."""
    from lrcn.runtime.ray_cluster import cluster

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(init=lambda **kw: None, shutdown=lambda: None))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # what `cluster` would set in this process otherwise
    out = sys.stdout
    with cluster("local"):
        ray_thread = threading.Thread(target=print, args=("(raylet) Task ClipWorker.classify failed",))
        ray_thread.start()
        ray_thread.join()
        out.write('{"source": "a.avi"}\n')
    print("after")
    printed = capsys.readouterr()
    assert printed.out == '{"source": "a.avi"}\nafter\n'
    assert printed.err == "(raylet) Task ClipWorker.classify failed\n"


def test_ray_is_for_clip_mode_over_files(archive):  # refused before Ray starts
    model, clips = archive
    for extra, words in (
        (["--ray", "nowhere"], "--ray must be local, auto or HOST:PORT"),
        (["--ray", "local", "--stream"], "clip mode over files"),
        (["--ray", "local", "--timeline", "t.html"], "clip mode over files"),
        (["--parquet", "x.parquet", "--stream"], "clip mode over files"),
    ):
        r = vc_run(clips, "--model", model, *extra)
        assert r.exit_code == 2 and words in r.stderr and len(error_lines(r)) == 1, (extra, r.output)


def test_parquet_holds_what_json_prints(archive, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    model, clips = archive
    out = tmp_path / "rows.parquet"
    r = vc_run(clips, "--model", model, "--json", "--parquet", out, "--top-k", "2")
    assert r.exit_code == 1  # the broken clip
    table = pq.read_table(out).to_pylist()
    printed = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [t["source"] for t in table] == [p["source"] for p in printed] and len(table) == 25
    for t, p in zip(table, printed):
        if "error" in p:
            assert t["error"] == p["error"] and t["label"] is None and t["top_k"] is None
        else:
            assert (t["label"], t["probability"], t["frames"], t["error"]) == (
                p["label"],
                p["probability"],
                p["frames"],
                None,
            )
            assert [[k["label"], k["probability"]] for k in t["top_k"]] == p["top_k"]
            assert t["ms"] == p["ms"]["total"]


def csv_without_ms(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "ms"} for row in csv.DictReader(fh)]


@pytest.mark.slow
def test_two_nodes_classify_as_a_local_run(archive, tmp_path):
    cluster_or_skip()
    model, clips = archive
    common = ("--model", model, "--device", "cpu", "--json", "--top-k", "3")
    local = vc_run(clips, *common, "--csv", tmp_path / "local.csv")
    remote = on_cluster(clips, *common, "--ray", "{address}", "--csv", tmp_path / "ray.csv")
    assert local.exit_code == remote.returncode == 1, remote.stderr[-3000:]  # the broken clip, in both
    assert "ray: 2 workers on 2 nodes" in remote.stderr, remote.stderr[-3000:]
    a, b = rows(local.stdout), rows(remote.stdout)
    assert len(a) == 25 and sum("error" in r for r in a) == 1
    assert_same_rows(a, b)
    broken = [x for x in remote.stderr.splitlines() if x.startswith("error: ")]
    assert broken == error_lines(local) and len(broken) == 1 and "clip05b.avi" in broken[0]
    assert "classified 24 of 25; 1 failed" in remote.stderr and "Traceback" not in remote.stderr
    a_csv, b_csv = csv_without_ms(tmp_path / "local.csv"), csv_without_ms(tmp_path / "ray.csv")
    plain = ("source", "label", "clips", "frames", "error")
    assert [[r[k] for k in plain] for r in a_csv] == [[r[k] for k in plain] for r in b_csv]
    for x, y in zip(a_csv, b_csv):  # the probabilities as printed, within 1e-5 (a worker runs 1 thread)
        assert abs(float(x["probability"] or 0) - float(y["probability"] or 0)) <= 1e-5


@pytest.mark.slow
def test_a_killed_worker_is_restarted_and_its_files_still_classified(archive, tmp_path):
    cluster_or_skip()
    model, clips = archive
    many = tmp_path / "many"  # enough files that the workers still hold some when one is killed
    many.mkdir()
    for i in range(4):
        for f in sorted(clips.glob("clip??.avi")):
            (many / f"{i}-{f.name}").symlink_to(f)
    common = ("--model", model, "--device", "cpu", "--json")
    local = vc_run(many, *common)
    remote = on_cluster(many, *common, "--ray", "{address}", kill=("kill-worker", 1))
    assert "ray_netns: killed worker pids [" in remote.stderr and "pids []" not in remote.stderr, remote.stderr[-3000:]
    assert local.exit_code == remote.returncode == 0, remote.stderr[-3000:]
    a, b = rows(local.stdout), rows(remote.stdout)
    assert len(a) == len(b) == 96 and not [r for r in b if "error" in r]
    assert_same_rows(a, b)


@pytest.mark.slow
def test_a_lost_node_hands_its_files_to_the_other(archive, tmp_path):
    """The worker node's raylet and processes killed mid-run: the files its worker held fail to reach
    it (actor unavailable) and go to the worker on the head."""
    cluster_or_skip()
    model, clips = archive
    many = tmp_path / "many"
    many.mkdir()
    for i in range(2):
        for f in sorted(clips.glob("clip??.avi")):
            (many / f"{i}-{f.name}").symlink_to(f)
    common = ("--model", model, "--device", "cpu", "--json")
    local = vc_run(many, *common)
    remote = on_cluster(many, *common, "--ray", "{address}", kill=("kill-node", 1), timeout=300)
    killed = [x for x in remote.stderr.splitlines() if x.startswith("ray_netns: killed node")]
    assert killed and "pids []" not in killed[0], remote.stderr[-3000:]
    assert "ray: 2 workers on 2 nodes" in remote.stderr
    assert local.exit_code == remote.returncode == 0, remote.stderr[-3000:]
    assert_same_rows(rows(local.stdout), rows(remote.stdout))


@pytest.mark.slow
def test_a_silent_node_is_noticed_and_its_files_go_to_the_other(archive, tmp_path):
    """The worker node frozen (SIGSTOP: nothing refused, nothing answers): the run does not wait on it
    for ever; once the cluster declares it dead, its worker's files go to the worker on the head."""
    cluster_or_skip()
    model, clips = archive
    common = ("--model", model, "--device", "cpu", "--json")
    local = vc_run(clips, *common)
    remote = on_cluster(clips, *common, "--ray", "{address}", kill=("freeze-node", 1), timeout=240)
    assert "ray_netns: froze node pids [" in remote.stderr, remote.stderr[-3000:]
    assert " left the cluster; its worker's files go to the others" in remote.stderr, remote.stderr[-3000:]
    assert local.exit_code == remote.returncode == 1, remote.stderr[-3000:]  # the broken clip, in both
    assert_same_rows(rows(local.stdout), rows(remote.stdout))


@pytest.mark.slow
def test_ray_local_starts_its_own_cluster(archive):
    cluster_or_skip()
    model, clips = archive
    local = vc_run(clips / "clip00.avi", clips / "clip01.avi", "--model", model, "--json")
    remote = on_cluster(
        clips / "clip00.avi", clips / "clip01.avi", "--model", model, "--json", "--ray", "local", nodes=0
    )
    assert local.exit_code == remote.returncode == 0, remote.stderr[-3000:]
    assert "ray: " in remote.stderr and " on 1 node," in remote.stderr
    assert_same_rows(rows(local.stdout), rows(remote.stdout))
