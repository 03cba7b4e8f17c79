"""The models under test: one PyTorch model and the ONNX files the runtime would run for it.

Without a trained run the weights are random (seeded), since timings do not depend on them;
the pretrained family's backbone is then built without downloading its ImageNet weights
(`build_model(cfg, load_weights=False)`). The ONNX files are written by vc-export's own writer
(`lrcn.export.pipeline.export_model`: the same graphs, metadata and fp16/int8 variants) without
its parity gate, whose dozens of ResNet152 clips would cost minutes; one clip's probabilities
are compared here instead. Files are kept in the work folder and reused while weights and versions match.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import lrcn
from lrcn.bench.config import BenchConfig
from lrcn.core.atomic import atomic_path, write_json
from lrcn.models.specs import family_spec
from lrcn.runtime.preprocess import PreprocessSpec

RANDOM_SEED = 0
RECIPE = 5
"""Bumped when the files written here change, so older ones in the work folder are not reused."""


@dataclass
class Subject:
    family: str
    model: torch.nn.Module
    """Eval mode, on the CPU."""
    config: dict
    """A run-config-shaped dict: model, preprocess, class_names."""
    files: dict[str, Path]
    """full, encoder, head, step (a head with a step form: ModelConfig.step_absent); fp16 and int8 as
    vc-export makes them, with the int8 variant's parts int8_encoder and int8_step; int8_dynamic
    (vc-export's int8 before static Conv)."""
    weights: str
    """"random (seed 0)" or "trained: RUN"."""
    export_seconds: float | None
    """None when the files were reused from an earlier bench."""

    @property
    def spec(self) -> PreprocessSpec:
        return PreprocessSpec.from_dict(self.config["preprocess"])

    @property
    def num_frames(self) -> int:
        return int(self.config["preprocess"]["num_frames"])

    @property
    def random_weights(self) -> bool:
        return self.weights.startswith("random")

    def clip(self, batch: int, seed: int = 0) -> np.ndarray:
        """A (batch, T, C, S, S) float32 input; timings do not depend on its content."""
        s, spec = self.spec.img_size, self.spec
        return np.random.default_rng(seed).standard_normal(
            (batch, self.num_frames, spec.channels, s, s), dtype=np.float32
        )

    def describe(self) -> dict:
        cfg = self.config["model"]
        return {
            "family": self.family,
            "weights": self.weights,
            "frames": self.num_frames,
            "img_size": self.spec.img_size,
            "modality": self.spec.modality,
            "backbone": cfg["backbone"] if family_spec(self.family).has_backbone else None,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "files_mb": {k: round(p.stat().st_size / 2**20, 2) for k, p in self.files.items()},
            "export_seconds": self.export_seconds,
        }


def _random_model(family: str, cfg: BenchConfig):
    from lrcn.models.config import ModelConfig
    from lrcn.models.registry import build_model
    from lrcn.train.config import DataConfig, preprocess_spec

    mc = ModelConfig(name=family, img_size=cfg.img_size, backbone=cfg.backbone)
    torch.manual_seed(RANDOM_SEED)
    model = build_model(mc, load_weights=False).eval()
    spec = preprocess_spec(mc, DataConfig(num_frames=cfg.frames, img_size=cfg.img_size))
    config = {
        "model": asdict(mc),
        "class_names": [f"class{i}" for i in range(mc.num_classes)],
        "lrcn_version": lrcn.__version__,
        "preprocess": {**spec.to_dict(), "num_frames": cfg.frames, "sampled_frames": cfg.frames, "sample_fps": None},
    }
    return model, config


def _trained_model(run: Path):
    from lrcn.models.checkpoint import model_from_checkpoint

    model, ckpt = model_from_checkpoint(run / "best.pt")
    return model, ckpt["config"]


def _key(family: str, config: dict, weights_id: str) -> str:
    pre = config["preprocess"]
    parts = [family, f"T{pre['num_frames']}", f"S{pre['img_size']}", pre["modality"]]
    if family_spec(family).has_backbone:
        parts.append(config["model"]["backbone"])
    return "-".join(
        parts + [weights_id, f"lrcn{lrcn.__version__}", f"torch{torch.__version__.split('+')[0]}", f"r{RECIPE}"]
    )


def _export(model, config: dict, folder: Path, sha: str, calibration: np.ndarray, log) -> dict[str, Path]:
    """Write into `folder`, with vc-export's own writer (export_model) but without its gates, which
    random weights make meaningless: the full model and its parts; the fp16 and int8 variants (int8
    calibrated on `calibration`, with its int8 encoder and step parts); and int8 as vc-export made it
    before static Conv (all dynamic), for comparison. Returns the bench's file keys -> paths."""
    from lrcn.export.pipeline import export_model

    folder.mkdir(parents=True, exist_ok=True)
    result = export_model(
        model,
        config,
        folder / "model.onnx",
        checkpoint_sha256=sha,
        metrics={},
        precisions=("fp16", "int8", "int8-dynamic"),
        gate=False,
        calibration=calibration,
        log=log,
    )
    files = {"full": result.model, **result.parts}
    files |= {k.replace("-", "_"): p for k, p in result.variants.items()}
    files |= {f"int8_{k}": p for k, p in result.variant_parts.get("int8", {}).items()}
    return files


def _cached(folder: Path) -> dict[str, Path] | None:
    manifest = folder / "files.json"
    if not manifest.is_file():
        return None
    files = {k: folder / v for k, v in json.loads(manifest.read_text()).items()}
    return files if all(p.is_file() for p in files.values()) else None


def prepare(family: str, cfg: BenchConfig, log=lambda s: None) -> Subject:
    """The PyTorch model and its ONNX files for `family` (or for the family of cfg.run)."""
    if cfg.run:
        run = Path(cfg.run)
        model, config = _trained_model(run)
        from lrcn.export.metadata import sha256_file

        sha = sha256_file(run / "best.pt")
        weights, weights_id = f"trained: {run}", sha[:12]
    else:
        model, config = _random_model(family, cfg)
        sha = f"random-seed{RANDOM_SEED}"
        weights, weights_id = f"random (seed {RANDOM_SEED})", sha
    family = config["model"]["name"]
    folder = Path(cfg.workdir) / "models" / _key(family, config, weights_id)
    state = folder / "weights.pt"
    files = _cached(folder)
    if files is not None and state.is_file():
        # the same seed gives the same weights on this torch; the saved state makes sure of it
        model.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
        return Subject(family, model, config, files, weights, None)
    t0 = time.perf_counter()
    from lrcn.bench.data import real_clips
    from lrcn.export.pipeline import CALIBRATION_CLIPS

    calibration, _ = real_clips(
        PreprocessSpec.from_dict(config["preprocess"]),
        int(config["preprocess"]["num_frames"]),
        cfg,
        CALIBRATION_CLIPS,
        splits=("train",),
    )
    files = _export(model, config, folder, sha, calibration, log)
    with atomic_path(state) as tmp:
        torch.save(model.state_dict(), tmp)
    write_json(folder / "config.json", config)  # with weights.pt: what the memory probe rebuilds
    write_json(folder / "files.json", {k: p.name for k, p in files.items()})  # last: the export is whole
    return Subject(family, model, config, files, weights, round(time.perf_counter() - t0, 1))
