"""CLI entry points: every script resolves, bad values are refused before any work."""

import importlib
import tomllib

import pytest
from typer.testing import CliRunner

from conftest import REPO

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


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--frames", "-3"], "--frames must be >= 1"),
        (["--img-size", "0"], "--img-size must be >= 16"),
        (["--model", "vgglstm"], "choose one of convlstm, resnetlstm, pretrained"),
        (["--device", "tpu"], "--device must be one of auto, cpu, cuda"),
        (["--input", "flow"], "--input must be one of rgb, diff, rgb+diff"),
        (["--augment", "flip,warp"], "--augment takes flip, crop, color, temporal"),
    ],
)
def test_vc_train_refuses_nonsense_before_work(tmp_path, args, needle):
    result = runner.invoke(train_app(), ["--data", str(tmp_path), *args])
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

    result = runner.invoke(app, ["synth", str(tmp_path / "d"), "--classes", "2", "--clips-per-class", "2",
                                 "--frames", "4", "--size", "32"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "d").rglob("*.avi"))) == 4
    bad = runner.invoke(app, ["synth", str(tmp_path / "e"), "--classes", "11"])
    assert bad.exit_code == 2 and "classes must be in 2..10" in bad.output
