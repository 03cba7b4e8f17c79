"""CLI entry points: every script resolves, bad values are refused before any work."""

import importlib
import tomllib

import pytest
from conftest import REPO
from typer.testing import CliRunner

runner = CliRunner()


def scripts():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.parametrize("name", sorted(scripts()))
def test_every_script_resolves_and_has_help(name):
    module, attr = scripts()[name].split(":")
    app = getattr(importlib.import_module(module), attr)
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output


def train_app():
    from lrcn.train.cli import app

    return app


def run_app():
    from lrcn.runtime.vcrun.cli import app

    return app


NONSENSE = [  # (command, options, what the one refusal line says); each exits 2 before any work
    ("vc-train", ["--frames", "-3"], "--frames must be >= 1"),
    ("vc-train", ["--img-size", "0"], "--img-size must be >= 16"),
    ("vc-train", ["--img-size", "8"], "--img-size must be >= 16"),  # once clamped to 16 for the model
    ("vc-train", ["--img-size", "2000"], "--img-size must be <= 1024"),  # the runtime could not read the model
    ("vc-train", ["--model", "vgglstm"], "choose one of convlstm, resnetlstm, pretrained"),
    ("vc-train", ["--device", "tpu"], "--device must be one of auto, cpu, cuda"),
    ("vc-train", ["--input", "depth"], "--input must be one of rgb, diff, rgb+diff, flow, rgb+flow"),
    ("vc-train", ["--model", "pretrained", "--input", "flow"], "pretrained reads 3-channel images"),
    ("vc-train", ["--augment", "flip,warp"], "--augment takes flip, crop, color, temporal"),
    ("vc-train", ["--val-frac", "0.9", "--test-frac", "0.5"], "--val-frac and --test-frac must be"),
    ("vc-train", ["--step-loss", "1.5"], "--step-loss must be in [0, 1]"),
    ("vc-train", ["--step-loss", "0.5", "--pool", "mean"], "--step-loss needs a head with an output at every step"),
    ("vc-train", ["--step-loss", "0.5", "--bidirectional"], "this is a bidirectional head"),
    ("vc-run", ["--top-k", "0"], "--top-k must be >= 1"),
    ("vc-run", ["--clips", "0"], "--clips must be >= 1"),
    ("vc-run", ["--device", "tpu"], "--device must be one of auto, cpu, cuda, tensorrt"),
    ("vc-run", ["--threads", "0"], "--threads must be >= 1"),
    ("vc-run", ["--reconnect", "-1"], "--reconnect must be >= 0"),
    ("vc-run", ["--smooth", "0"], "--smooth must be >= 1"),
    ("vc-run", ["--threshold", "2"], "--threshold must be in [0, 1]"),
    ("vc-run", ["--sample-fps", "-1"], "--sample-fps must be >= 0"),
    ("vc-run", ["--max-frames", "0"], "--max-frames must be >= 1"),  # StreamConfig's max_frames, mapped
]


@pytest.mark.parametrize("command,args,needle", NONSENSE)
def test_nonsense_is_refused_before_work(request, tmp_path, command, args, needle):
    if command == "vc-train":
        app, before = train_app(), ["--data", str(tmp_path)]
    else:
        app, before = run_app(), ["x.avi", "--model", str(request.getfixturevalue("fake"))]
    result = runner.invoke(app, [*before, *args])
    assert result.exit_code == 2
    assert needle in result.output and "Traceback" not in result.output
    assert not (tmp_path / "artifacts").exists()


def test_vc_train_data_without_class_folders(tmp_path):
    (tmp_path / "a.avi").write_bytes(b"x")
    result = runner.invoke(train_app(), ["--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "at least 2 class folders" in result.output
    assert not (tmp_path / "run").exists()


def test_vc_data_synth(tmp_path):
    from lrcn.train.data_cli import app

    result = runner.invoke(
        app, ["synth", str(tmp_path / "d"), "--classes", "2", "--clips-per-class", "2", "--frames", "4", "--size", "32"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "d").rglob("*.avi"))) == 4
    bad = runner.invoke(app, ["synth", str(tmp_path / "e"), "--classes", "11"])
    assert bad.exit_code == 2 and "classes must be in 2..10" in bad.output
