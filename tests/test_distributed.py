"""Data-parallel training: 2 gloo processes equal 1 process at the same global batch; the plumbing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from conftest import tiny_configs
from typer.testing import CliRunner


def test_shards_cover_the_order_once_padded_like_distributed_sampler():
    from lrcn.train.distributed import Ranks, ShardSampler

    order = [4, 0, 3, 1, 2]
    shares = [list(ShardSampler(order, Ranks(r, 2))) for r in range(2)]
    assert shares == [[4, 3, 2], [0, 1, 4]]  # 5 -> 6: the first item again, as DistributedSampler pads
    assert list(ShardSampler(order, Ranks(0, 1))) == order
    both = [list(ShardSampler(list(range(12)), Ranks(r, 3))) for r in range(3)]
    assert sorted(sum(both, [])) == list(range(12))


def test_a_finished_rank_exits_0_with_its_output_flushed_and_no_finalisation():
    """`finish` ends the process at once: what it printed is out, and nothing runs at interpreter exit
    (where a collected DDP wrapper can take gloo's threads down and abort the rank)."""
    code = (
        "import atexit, sys\n"
        "from lrcn.train.distributed import Ranks, finish\n"
        "atexit.register(lambda: print('finalised'))\n"
        "sys.stdout.write('done without a newline')\n"
        "finish(Ranks())\n"
        "print('after finish')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (0, "done without a newline", "")


def test_one_process_order_is_the_shuffling_loaders_order():
    from lrcn.train.distributed import one_process_order

    g = torch.Generator()
    g.manual_seed(7)
    seen = [
        int(i) for b in torch.utils.data.DataLoader(list(range(10)), batch_size=3, shuffle=True, generator=g) for i in b
    ]
    assert one_process_order(10, 7) == seen
    assert one_process_order(0, 7) == []


class FakeTorchrun:
    """subprocess.Popen stand-in: records the command, exits with `code`."""

    calls: list = []
    code = 0

    def __init__(self, cmd, env, **kw):
        self.calls.append((cmd, env))
        self.stderr = iter(["rank line\n"])

    def wait(self):
        return self.code


def test_nproc_runs_torchrun_with_the_same_options(monkeypatch):
    from lrcn.train.cli import app

    calls = FakeTorchrun.calls = []
    monkeypatch.setattr(subprocess, "Popen", FakeTorchrun)
    r = CliRunner().invoke(
        app, ["--nproc", "2", "--data", "d", "--lr", "0.01", "--bidirectional", "--no-feature-cache", "--device", "cpu"]
    )
    assert r.exit_code == 0, r.output
    cmd, env = calls[0]
    assert cmd[:7] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"]
    rest = cmd[7:]
    assert rest[0] == "lrcn.train" and "--nproc" not in rest
    # declared order, then what small-real's auto settings chose here (no clips: T 15, whole frames)
    assert (
        " ".join(rest[1:])
        == "--data d --bidirectional --lr 0.01 --device cpu --no-feature-cache --frames 15 --input diff --zoom none"
    )
    assert int(env["OMP_NUM_THREADS"]) >= 1


def test_nproc_ranks_get_the_auto_settings_read_once_here(monkeypatch, tiny_data):
    from lrcn.train.cli import app

    calls = FakeTorchrun.calls = []
    monkeypatch.setattr(subprocess, "Popen", FakeTorchrun)
    r = CliRunner().invoke(app, ["--nproc", "2", "--data", str(tiny_data), "--zoom", "none", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    rest = calls[0][0][8:]
    assert rest.count("--frames") == 1 and rest[rest.index("--frames") + 1] == "11"  # 12-frame clips
    assert rest.count("--zoom") == 1 and rest[rest.index("--zoom") + 1] == "none"  # given: forwarded as given
    assert rest[rest.index("--input") + 1] == "rgb+diff"  # short clips: appearance too


def test_nproc_refuses_a_sweep_and_a_failed_job_exits_non_zero(monkeypatch):
    from lrcn.train.cli import app

    r = CliRunner().invoke(app, ["--nproc", "2", "--lr", "1e-3,1e-4"])
    assert r.exit_code == 2 and "one run" in r.output
    monkeypatch.setattr(subprocess, "Popen", type("Failing", (FakeTorchrun,), {"code": 1}))
    r = CliRunner().invoke(app, ["--nproc", "2"])
    assert r.exit_code == 1 and "2-process job failed" in r.output


def test_torchruns_own_traceback_is_dropped_a_ranks_is_kept():
    import io

    from lrcn.train.launch import relay_stderr

    rank = ["Traceback (most recent call last):\n", '  File "x.py"\n', "RuntimeError: a real bug\n"]
    agent = [
        "Traceback (most recent call last):\n",
        '  File "run.py"\n',
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n",
        "=====\n",
        "rank: 0\n",
    ]
    out = io.StringIO()
    relay_stderr(["error: D: data folder not found\n", *rank, "W agent line\n", *agent], out)
    assert out.getvalue() == "".join(["error: D: data folder not found\n", *rank, "W agent line\n"])
    out = io.StringIO()
    relay_stderr(rank, out)
    assert out.getvalue() == "".join(rank)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, results):
    """One rank of a 2-process gloo group: rank 1 fails inside gather, rank 0 must hear of it."""
    os.environ.update(
        RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    from lrcn.core.errors import LrcnError
    from lrcn.train import distributed as dist

    ranks, _ = dist.setup(torch.device("cpu"), timeout_s=60)

    def work():
        if ranks.rank == 1:
            raise LrcnError("clip x.avi: disk full")
        return ranks.rank

    try:
        dist.gather(ranks, work)
        results.put((rank, "no error"))
    except LrcnError as e:
        results.put((rank, f"{type(e).__name__}: {e}"))
    results.put((rank, dist.on_main(ranks, lambda: "from rank 0")))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_a_failing_rank_reaches_every_rank():
    ctx = torch.multiprocessing.get_context("spawn")
    results = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, port, results)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    got = sorted(results.get(timeout=5) for _ in range(4))
    assert got == [
        (0, "DistributedError: rank 1 failed: clip x.avi: disk full"),
        (0, "from rank 0"),
        (1, "LrcnError: clip x.avi: disk full"),
        (1, "from rank 0"),
    ]


def _weights(run):
    return torch.load(run / "last.pt", map_location="cpu", weights_only=True)["model"]


@pytest.mark.slow
@pytest.mark.parametrize("members,step_loss", [(1, 0.0), (2, 0.0), (2, 0.5)])
def test_two_gloo_processes_reach_the_one_process_weights(tiny_data, tmp_path, members, step_loss):
    """Same seed, global batch 4 (1 x 4 against 2 x 2), dropout 0 and no BatchNorm.

    Each rank's gradient is the mean over its 2 clips; DDP averages the two, which is the mean
    over the 4 clips one process takes, up to float32 summation order. Measured on the 2-core
    machine after 9 Adam steps: 6e-7 at most, against 1e-2 and more that training moves the
    weights. Both sides run one intra-op thread: the same single process with 2 threads ends
    3e-3 away from itself with 1 (the conv sums in another order, and Adam's m / sqrt(v)
    magnifies gradients near zero), so the tolerance holds only at equal thread counts.
    """
    from rich.console import Console

    from lrcn.models import ModelConfig, build_model
    from lrcn.train.run import train

    mc, dc, tc = tiny_configs(tiny_data, tmp_path / "one", tmp_path / "cache", epochs=3)
    mc.dropout, mc.norm, mc.members = 0.0, "none", members  # an ensemble: each member's own loss under DDP too
    tc.step_loss = step_loss  # the per-step loss: DDP's forward returns the logits at every step
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank runs (OMP_NUM_THREADS=1 below)
    try:
        one = train(mc, dc, tc, console=Console(quiet=True))
    finally:
        torch.set_num_threads(threads)

    two = tmp_path / "two"
    cmd = [
        sys.executable,
        "-m",
        "lrcn.train",
        "--nproc",
        "2",
        "--recipe",
        "default",
        "--data",
        str(tiny_data),
        "--frames",
        "4",
        "--input",
        dc.modality,
        "--img-size",
        "32",
        "--latent-dim",
        "16",
        "--hidden-size",
        "12",
        "--dropout",
        "0",
        "--norm",
        "none",
        "--batch-size",
        "2",
        "--lr",
        "3e-3",
        "--epochs",
        "3",
        "--seed",
        "0",
        "--device",
        "cpu",
        "--cache-dir",
        str(tmp_path / "cache2"),
        "--out",
        str(two),
        "--dist-timeout",
        "120",
        "--members",
        str(members),
        "--step-loss",
        str(step_loss),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]

    a, b = _weights(one), _weights(two)
    torch.manual_seed(0)
    init = build_model(ModelConfig.from_dict(torch.load(one / "last.pt", weights_only=True)["config"]["model"]))
    moved = max((a[k] - v).abs().max().item() for k, v in init.state_dict().items())
    assert moved > 1e-2
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-5, rtol=0, msg=lambda m, k=k: f"{k}: {m}")

    ma, mb = (json.loads((run / "metrics.json").read_text()) for run in (one, two))
    for key in ("test_loss", "val_loss", "train_loss"):
        assert mb[key] == pytest.approx(ma[key], abs=1e-5), key
    for key in ("test_accuracy", "val_accuracy", "train_accuracy", "num_test", "best_epoch", "epochs"):
        assert mb[key] == pytest.approx(ma[key], abs=1e-6), key  # every clip counted once, not rank 0's half
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())  # no temps, no extras
    ha, hb = (json.loads((run / "history.json").read_text()) for run in (one, two))
    assert [h["train_loss"] for h in hb] == pytest.approx([h["train_loss"] for h in ha], abs=1e-5)
    clips = list((tmp_path / "cache2" / "clips").iterdir())
    assert len(clips) == len(list((tmp_path / "cache" / "clips").iterdir())) and not [
        c for c in clips if c.name.startswith(".")
    ]
