"""Families are registry data: a fourth one is one module plus one registration line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, train_tiny


@pytest.fixture
def toy_family(monkeypatch):
    """Register tests/toy_family.py as "toylstm" for one test; the registries are restored after."""
    from lrcn.models import registry, specs

    monkeypatch.setattr(specs, "_FAMILIES", dict(specs._registered()))
    monkeypatch.setattr(registry, "_BUILDERS", dict(registry._BUILDERS))
    monkeypatch.delitem(sys.modules, "toy_family", raising=False)
    # the one registration line a new family adds to lrcn/models/families.py:
    specs.register_family(specs.FamilySpec("toylstm", "toy_family", normalisation="imagenet", frozen_backbone=True))
    return "toylstm"


def test_family_specs_are_read_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from lrcn.models.specs import family_names, family_spec\n"
        "from lrcn.train.cli import app\n"
        "print(','.join(family_names()), family_spec('pretrained').frozen_backbone)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["convlstm,resnetlstm,pretrained", "True"]


def test_a_duplicate_family_or_builder_is_refused(toy_family):
    from lrcn.models import FamilySpec, ModelConfig, build_model, register_family, register_model

    with pytest.raises(ValueError, match="family 'convlstm' is already registered"):
        register_family(FamilySpec("convlstm", "lrcn.models.builders"))
    with pytest.raises(ValueError, match="family 'toylstm' is already registered"):
        register_family(FamilySpec("toylstm", "toy_family"))
    build_model(ModelConfig(name=toy_family, img_size=32))  # loads its builder ...
    with pytest.raises(ValueError, match="model 'toylstm' is already registered"):
        register_model(toy_family)(lambda cfg, load_weights=True: None)  # ... so a second one is refused


def test_a_bad_spec_is_refused():
    from lrcn.models import FamilySpec

    with pytest.raises(ValueError, match="normalisation must be one of imagenet, simple"):
        FamilySpec("x", "x", normalisation="zscore")


@pytest.mark.slow  # real-time waits or a real training run: out of make test-fast
def test_a_fourth_family_builds_and_trains_through_the_normal_path(toy_family, tiny_data, tmp_path):
    import torch
    from toy_family import PatchEncoder

    from lrcn.models import ModelConfig, build_model, list_models
    from lrcn.runtime.preprocess import IMAGENET_MEAN
    from lrcn.train.report import load_run

    assert toy_family in list_models()
    model = build_model(ModelConfig(name=toy_family, img_size=32, num_classes=3, latent_dim=8, hidden_size=6))
    assert isinstance(model.encoder, PatchEncoder)
    assert model(torch.randn(2, 4, 3, 32, 32)).shape == (2, 3)

    run = train_tiny(tiny_data, tmp_path / "run", tmp_path / "cache", model=toy_family, epochs=1)
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["name"] == toy_family
    assert tuple(config["preprocess"]["mean"]) == IMAGENET_MEAN  # from the spec's normalisation
    assert list((tmp_path / "cache" / "features").glob("*.npz"))  # frozen part: the feature cache was used
    assert json.loads((run / "metrics.json").read_text())["num_test"] > 0
    assert load_run(run).params()["backbone"] is None  # no backbone option: no backbone column


def test_the_cli_takes_a_registered_family(toy_family, tiny_data, tmp_path):
    from typer.testing import CliRunner

    from lrcn.train.cli import app

    args = [
        "--data",
        str(tiny_data),
        "--model",
        toy_family,
        "--frames",
        "4",
        "--img-size",
        "32",
        "--input",
        "rgb",
        "--latent-dim",
        "8",
        "--hidden-size",
        "6",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "run"),
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["name"] == toy_family
