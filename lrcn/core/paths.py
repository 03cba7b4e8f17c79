"""Default folders and file names: written once here, imported everywhere else."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS_DIR = Path("artifacts")
RUNS_DIR = ARTIFACTS_DIR / "runs"
"""Run folders of vc-train (one per run, sweep folders hold several)."""
MODELS_DIR = ARTIFACTS_DIR / "models"
"""Exported models of vc-export; vc-run takes the newest one here by default."""
CACHE_DIR = ARTIFACTS_DIR / "cache"
"""Decoded-clip and backbone-feature caches."""
DATA_DIR = ARTIFACTS_DIR / "data"
"""Data sets that lrcn makes (vc-data synth)."""
REPORTS_DIR = ARTIFACTS_DIR / "reports"
"""vc-report's default output folder for runs that are not one sweep of vc-train."""

PART_SUFFIX = {"encoder": ".encoder.onnx", "head": ".head.onnx", "step": ".step.onnx"}
"""M.onnx -> its streaming parts, M.encoder.onnx and so on (see runtime.contract)."""
PARITY_SUFFIX = ".parity.json"

# One timeout per meaning.
DECODE_TIMEOUT_S = 60.0
"""Clip mode: the longest a whole file's decode may take before it is refused."""
STREAM_TIMEOUT_S = 10.0
"""Stream mode: the longest a source's open, or the wait for its next frame, may take."""


def sibling(path: Path, suffix: str) -> Path:
    """M.onnx + ".encoder.onnx" -> M.encoder.onnx (the contract's file names)."""
    name = path.name[: -len(".onnx")] if path.name.endswith(".onnx") else path.name
    return path.with_name(name + suffix)


def fresh_folder(parent: Path, stem: str) -> Path:
    """Create and return a new folder `parent/stem`, or `stem-2`, `stem-3`, ... when that exists.

    The folder is made exclusively (mkdir without exist_ok), so two commands started in the same
    second never share one.
    """
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        path = parent / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{parent / stem}: 9999 folders of that name exist already")
