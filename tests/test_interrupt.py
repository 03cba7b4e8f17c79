"""Interrupted training: Ctrl-C and SIGKILL leave loadable checkpoints, and --resume goes on from them."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, tiny_configs
from typer.testing import CliRunner

runner = CliRunner()


def tiny_args(data: Path, out: Path, cache: Path, epochs: int) -> list[str]:
    """vc-train options for the tiny model of conftest.tiny_configs; one step per epoch, so epochs are quick."""
    return [
        "--data",
        str(data),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--frames",
        "4",
        "--img-size",
        "32",
        "--latent-dim",
        "16",
        "--hidden-size",
        "12",
        "--dropout",
        "0.1",
        "--batch-size",
        "4",
        "--lr",
        "3e-3",
        "--device",
        "cpu",
        "--epochs",
        str(epochs),
        "--steps-per-epoch",
        "1",
    ]


def start_vc_train(args: list[str]) -> subprocess.Popen:
    # SIGINT back to its default first: a shell that started us in the background may have ignored it,
    # and an ignored signal stays ignored across exec, so Python would never raise KeyboardInterrupt
    return subprocess.Popen(
        [sys.executable, "-m", "lrcn.train.cli", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def wait_for_epoch(
    proc: subprocess.Popen, run: Path, epoch: int, timeout: float = 60.0, min_reads: int = 1
) -> list[int]:
    """Read best.pt and last.pt over and over until last.pt holds `epoch` and they were read at least
    `min_reads` times; returns every epoch read. (A loaded machine reads less often, so the count is
    asked for, not hoped for.)

    Each read sees what a SIGKILL at that instant would leave on disk, writes in progress included.
    """
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        if (run / "last.pt").exists():
            best, last = load(run / "best.pt"), load(run / "last.pt")
            assert best["epoch"] <= last["epoch"] and set(last["model"]) == set(best["model"])
            seen.append(last["epoch"])
            if last["epoch"] >= epoch and len(seen) >= min_reads:
                return seen
        time.sleep(0.01)
    raise AssertionError(f"last.pt never reached epoch {epoch}; read {seen[-5:]}")


def resume_in_process(run: Path, data: Path, cache: Path, epochs: int) -> list[dict]:
    from rich.console import Console

    from lrcn.train.run import train

    train(*tiny_configs(data, run, cache), resume=str(run), epochs=epochs, console=Console(quiet=True))
    return json.loads((run / "history.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_at_any_moment_leaves_loadable_checkpoints_and_resume_goes_on(tiny_data, tmp_path):
    cache = tmp_path / "cache"
    runs = {"early": tmp_path / "early", "late": tmp_path / "late"}
    procs = {k: start_vc_train(tiny_args(tiny_data, run, cache, epochs=500)) for k, run in runs.items()}
    try:  # both start together, so that the two interpreters load torch side by side
        reads = wait_for_epoch(procs["early"], runs["early"], 1)  # kill 1: as soon as a checkpoint is there
        procs["early"].kill()
        reads += wait_for_epoch(procs["late"], runs["late"], 4, min_reads=3)
        time.sleep(random.Random(0).uniform(0.0, 0.2))  # kill 2: at some point of a later epoch
        procs["late"].kill()
    finally:
        for proc in procs.values():
            proc.kill()
            proc.communicate()
    assert all(p.returncode == -signal.SIGKILL for p in procs.values()) and len(reads) > 3
    for run in runs.values():
        best, last = load(run / "best.pt"), load(run / "last.pt")
        done = last["epoch"]
        assert done >= 1 and best["epoch"] <= done
        assert [h["epoch"] for h in last["history"]] == list(range(1, done + 1))
        history = resume_in_process(run, tiny_data, cache, epochs=done + 1)
        assert [h["epoch"] for h in history] == list(range(1, done + 2))  # the killed epoch is simply run again
        assert load(run / "last.pt")["epoch"] == done + 1
        assert not list(run.glob(".*.tmp"))  # a write the kill cut short leaves no temp file after a resume
    assert load(runs["late"] / "last.pt")["epoch"] >= 5


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigint_saves_exits_130_in_one_line_and_resumes(tiny_data, tmp_path):
    run, cache = tmp_path / "run", tmp_path / "cache"
    proc = start_vc_train(tiny_args(tiny_data, run, cache, epochs=500))
    try:
        wait_for_epoch(proc, run, 2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err + out and len(err.strip().splitlines()) == 1, err
    done = load(run / "last.pt")["epoch"]
    assert err.startswith(f"interrupted: {run / 'last.pt'} holds epoch {done} ")
    assert err.strip().endswith(f"continue with vc-train --resume {run}")
    assert not list(run.glob(".*.tmp")) and not (run / "metrics.json").exists()

    history = resume_in_process(run, tiny_data, cache, epochs=done + 1)
    assert [h["epoch"] for h in history] == list(range(1, done + 2))
    assert json.loads((run / "metrics.json").read_text())["epochs"] == done + 1


def _interrupt_in_epoch(monkeypatch, n: int) -> None:
    import lrcn.train.run as R

    real, calls = R.train_one_epoch, []

    def train_one_epoch(*a, **k):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of an epoch
        return real(*a, **k)

    monkeypatch.setattr(R, "train_one_epoch", train_one_epoch)


@pytest.mark.parametrize("epoch", [1, 3])
def test_ctrl_c_in_an_epoch_keeps_the_last_completed_one(tiny_data, tmp_path, monkeypatch, epoch):
    from lrcn.train.cli import app

    _interrupt_in_epoch(monkeypatch, epoch)
    run = tmp_path / "run"
    r = runner.invoke(app, tiny_args(tiny_data, run, tmp_path / "cache", epochs=5))
    assert r.exit_code == 130 and "Traceback" not in r.output
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1
    if epoch == 1:
        assert line == f"interrupted before epoch 1 finished: {run} holds no checkpoint to resume"
        assert not (run / "last.pt").exists()
    else:
        assert line.startswith(f"interrupted: {run / 'last.pt'} holds epoch 2 (an unfinished epoch is discarded)")
        assert load(run / "last.pt")["epoch"] == 2 and not (run / "metrics.json").exists()


def test_ctrl_c_while_decoding_says_nothing_was_saved(tiny_data, tmp_path, monkeypatch):
    import lrcn.train.run as R
    from lrcn.train.cli import app

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(R, "prepare_data", interrupted)
    r = runner.invoke(app, tiny_args(tiny_data, tmp_path / "run", tmp_path / "cache", epochs=2))
    assert r.exit_code == 130 and r.stderr.startswith("interrupted while decoding clips: no run folder was written")
    assert not (tmp_path / "run").exists()


def test_an_interrupted_write_leaves_the_old_checkpoint_and_no_temp(tmp_path, monkeypatch):
    from lrcn.train import checkpoint as C

    path = tmp_path / "last.pt"
    C.save_checkpoint(path, {"model": {"w": torch.ones(3)}, "config": {}, "epoch": 1})

    def torn(obj, fh):
        fh.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(C.torch, "save", torn)
    with pytest.raises(KeyboardInterrupt):
        C.save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "config": {}, "epoch": 2})
    assert C.load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_stale_temps_of_dead_writers_are_removed(tmp_path):
    from lrcn.core.atomic import new_temp
    from lrcn.train.checkpoint import remove_stale_temps

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    torn = tmp_path / f".last.pt.{dead.stdout.strip()}-x1y2.tmp"
    torn.write_bytes(b"torn")
    huge = tmp_path / f".best.pt.{10**18}-abc.tmp"  # a PID no process can have: debris, and no crash
    huge.write_bytes(b"torn")
    mine = new_temp(tmp_path / "best.pt")  # a writer that still runs keeps its file
    mine.write_bytes(b"in progress")
    (tmp_path / "notes.tmp").write_bytes(b"not ours")  # only our own temp names are touched
    (tmp_path / "last.pt").write_bytes(b"x")
    assert sorted(p.name for p in remove_stale_temps(tmp_path)) == sorted([torn.name, huge.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "last.pt", "notes.tmp"])


def test_ctrl_c_while_a_checkpoint_is_written_waits_for_the_write():
    """The race the test above once lost: SIGINT after last.pt was written but before its epoch
    was recorded made vc-train name the epoch before. Inside the block it is held until the end."""
    import os

    from lrcn.train.run import interrupts_deferred

    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler has run by now; the block goes on
            done.append("written")
            done.append("recorded")
    assert done == ["written", "recorded"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    with interrupts_deferred():
        pass  # no signal, nothing raised
