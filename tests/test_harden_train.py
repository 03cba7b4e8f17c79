"""Issue 17 Low items for training and export: crafted checkpoints, runs that never mix, the TensorRT cache."""

import resource
import shutil

import pytest
import torch
from conftest import tiny_configs
from rich.console import Console
from typer.testing import CliRunner

from lrcn.train.checkpoint import CheckpointError, model_from_checkpoint

runner = CliRunner()


def crafted(src, dst, **model_changes):
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    ckpt["config"]["model"].update(model_changes)
    torch.save(ckpt, dst)
    return dst


def test_a_huge_config_in_a_checkpoint_is_refused_before_building(tiny_run, tmp_path):
    # within the config's width bound (65536) and still ~60 GB of LSTM: the weights' shapes refuse it
    path = crafted(tiny_run / "best.pt", tmp_path / "huge.pt", hidden_size=60_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(CheckpointError, match=r"weights do not fit .* config gives \(3, 60000\), weights \(3, 12\)"):
        model_from_checkpoint(path)
    wider = crafted(tiny_run / "best.pt", tmp_path / "wider.pt", hidden_size=10**7)  # past it: the config does
    with pytest.raises(CheckpointError, match=r"hidden_size x members must be <= 65536 .*got 10000000"):
        model_from_checkpoint(wider)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 1 << 20  # under 1 GiB, not ~40 GB
    from lrcn.export.cli import app

    r = runner.invoke(app, ["--checkpoint", str(path), "--model", "convlstm", "--out", str(tmp_path / "m.onnx")])
    assert r.exit_code == 1 and "weights do not fit" in r.output and "Traceback" not in r.output, r.output


def test_resume_refuses_a_huge_config_and_names_the_paths_it_takes(tiny_run, tiny_data, tmp_path):
    from lrcn.train.run import train

    run = shutil.copytree(tiny_run, tmp_path / "run")
    good = Console(record=True, width=300)
    train(*tiny_configs(tiny_data, run, tmp_path / "cache"), resume=str(run), epochs=2, console=good)
    said = good.export_text()
    assert f"--resume takes from {run / 'last.pt'}: data " in said and "cache " in said and "backbone weights" in said
    crafted(run / "last.pt", run / "last.pt", hidden_size=60_000)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        train(*tiny_configs(tiny_data, run, tmp_path / "cache"), resume=str(run), console=Console(quiet=True))
    crafted(run / "last.pt", run / "last.pt", hidden_size=10**7)
    with pytest.raises(
        CheckpointError, match=r"last.pt: checkpoint has no usable model config \(hidden_size x members"
    ):
        train(*tiny_configs(tiny_data, run, tmp_path / "cache"), resume=str(run), console=Console(quiet=True))


def test_out_into_another_runs_folder_is_refused_before_work(tiny_run, tiny_data, tmp_path):
    from lrcn.core.errors import LrcnError
    from lrcn.train.run import train

    run = shutil.copytree(tiny_run, tmp_path / "run")
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    with pytest.raises(LrcnError, match="holds another run already"):
        train(*tiny_configs(tiny_data, run, tmp_path / "cache"), console=Console(quiet=True))
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_default_folders_started_in_the_same_second_are_distinct(tmp_path, monkeypatch):
    from lrcn.core.paths import fresh_folder
    from lrcn.train import sweep

    monkeypatch.setattr(sweep, "RUNS_DIR", tmp_path / "runs")
    first, second = sweep.default_sweep_dir(), sweep.default_sweep_dir()
    assert first != second and first.is_dir() and second.is_dir()
    made = [fresh_folder(tmp_path, "convlstm-20260101-000000") for _ in range(3)]
    assert [p.name for p in made] == [
        "convlstm-20260101-000000",
        "convlstm-20260101-000000-2",
        "convlstm-20260101-000000-3",
    ]


def test_tensorrt_cache_is_per_user_and_keyed_by_the_model(tmp_path, monkeypatch):
    from helpers import fake_model

    from lrcn.runtime.session import trt_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    a, b = fake_model(tmp_path / "a"), fake_model(tmp_path / "b", seed=1)
    assert trt_cache_dir(a) == trt_cache_dir(a) != trt_cache_dir(b)
    assert trt_cache_dir(a).parent == tmp_path / "cache" / "lrcn" / "tensorrt"
    assert (trt_cache_dir(a).stat().st_mode & 0o777) == 0o700 and not (a.parent / ".trt_cache").exists()
