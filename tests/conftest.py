"""Shared fixtures: tiny synthetic videos and tiny trained runs, made once per session in tmp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# beside the checkout (../shared), or above a worktree of it (../../shared)
SHARED_VIDEOS = next(
    (p / "shared" / "data" / "videos" for p in REPO.parents[:2] if (p / "shared" / "data" / "videos").is_dir()),
    REPO.parent / "shared" / "data" / "videos",
)


TRAINED = {"tiny_run", "tiny_runs", "exported_tiny", "exported_tiny_run"}
"""Fixtures that train (and export) a model: tens of seconds on 2 cores, once per session."""


def pytest_configure(config):
    os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_collection_modifyitems(config, items):
    """A test on a trained run is `slow` without saying so, so `make test-fast` (-m "not slow") never trains."""
    for item in items:
        if TRAINED & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    if not SHARED_VIDEOS.is_dir():
        pytest.skip(f"{SHARED_VIDEOS} not present")
    return SHARED_VIDEOS


@pytest.fixture(scope="session")
def fake(tmp_path_factory) -> Path:
    """helpers.fake_model's default: T = 4, 32 px, rgb, classes a, b, c (read-only: make your own to change it)."""
    from helpers import fake_model

    return fake_model(tmp_path_factory.mktemp("fake"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """3 motion classes x 12 clips (3 groups each) of 12 frames at 48x48: a dataset in ~1 s."""
    from lrcn.train.synth import SynthConfig, make_dataset

    root = tmp_path_factory.mktemp("tiny_data")
    make_dataset(root, SynthConfig(classes=3, clips_per_class=12, frames=12, size=48, seed=3))
    return root


def tiny_configs(
    data: Path,
    out: Path,
    cache: Path,
    *,
    model: str = "convlstm",
    modality: str = "rgb",
    epochs: int = 2,
    bidirectional: bool = False,
    pool: str = "last",
    backbone_weights: str | None = None,
    **train_kw,
):
    from lrcn.models.config import ModelConfig
    from lrcn.train.config import DataConfig, TrainConfig

    mc = ModelConfig(
        name=model,
        img_size=32,
        latent_dim=16,
        hidden_size=12,
        bidirectional=bidirectional,
        pool=pool,
        backbone="resnet18",
        backbone_weights=backbone_weights,
        dropout=0.1,
    )
    dc = DataConfig(root=str(data), num_frames=4, img_size=32, modality=modality, cache_dir=str(cache))
    tc = TrainConfig(epochs=epochs, batch_size=4, lr=3e-3, seed=0, device="cpu", out=str(out), **train_kw)
    return mc, dc, tc


def train_tiny(data: Path, out: Path, cache: Path, **kw) -> Path:
    from rich.console import Console

    from lrcn.train.run import train

    return train(*tiny_configs(data, out, cache, **kw), console=Console(quiet=True))


@pytest.fixture(scope="session")
def resnet18_weights(tmp_path_factory) -> Path:
    """A resnet18 state dict saved by the test itself: no test downloads anything."""
    import torch
    import torchvision

    path = tmp_path_factory.mktemp("weights") / "resnet18-local.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """A trained convlstm run folder (2 epochs on tiny_data, T=4, 32x32)."""
    base = tmp_path_factory.mktemp("tiny_run")
    return train_tiny(tiny_data, base / "run", base / "cache")


@pytest.fixture(scope="session")
def tiny_runs(tiny_data, tmp_path_factory, resnet18_weights) -> dict[str, Path]:
    """One tiny run per family (+ a bidirectional convlstm, a mean-pooled one and a diff-input one)."""
    base = tmp_path_factory.mktemp("tiny_runs")
    cache = base / "cache"
    return {
        "convlstm": train_tiny(tiny_data, base / "convlstm", cache, epochs=1),
        "resnetlstm": train_tiny(tiny_data, base / "resnetlstm", cache, model="resnetlstm", epochs=1),
        "pretrained": train_tiny(
            tiny_data, base / "pretrained", cache, model="pretrained", epochs=1, backbone_weights=str(resnet18_weights)
        ),
        "convlstm-bi": train_tiny(tiny_data, base / "convlstm-bi", cache, epochs=1, bidirectional=True),
        "convlstm-mean": train_tiny(tiny_data, base / "convlstm-mean", cache, epochs=1, pool="mean"),
        "convlstm-diff": train_tiny(tiny_data, base / "convlstm-diff", cache, epochs=1, modality="diff"),
    }


@pytest.fixture(scope="session")
def exported_tiny(tiny_run, tmp_path_factory):
    """tiny_run exported once by lrcn.export (full model, streaming parts, fp16 and int8 variants)."""
    export = pytest.importorskip("lrcn.export.pipeline")
    return export.export_run(
        tiny_run, tmp_path_factory.mktemp("exported") / "convlstm.onnx", precisions=("fp16", "int8")
    )


@pytest.fixture(scope="session")
def exported_tiny_run(exported_tiny) -> Path:
    """The path of exported_tiny's convlstm.onnx, with its encoder, head and step parts beside it."""
    return exported_tiny.model
