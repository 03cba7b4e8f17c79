"""What to export: the newest run of a family, a given run folder, or a checkpoint file.

Torch-free: a run's family and age come from its config.json, so `--model all` can list
what there is to export before any model is built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lrcn.core.errors import LrcnError
from lrcn.core.paths import MODELS_DIR, RUNS_DIR

CHECKPOINT_NAME = "best.pt"


class ExportError(LrcnError):
    """Nothing to export, a wrong family, or a model that fails the parity gate."""


@dataclass(frozen=True)
class ExportSource:
    """One checkpoint to export. `run_dir` holds config.json, splits.json and metrics.json when
    the checkpoint sits in a run folder (None for a loose checkpoint file)."""

    checkpoint: Path
    run_dir: Path | None
    family: str | None
    """From config.json when known; the checkpoint itself decides otherwise."""


def model_path(out: str | Path | None, family: str) -> Path:
    """artifacts/models/<family>.onnx; `out` is FILE.onnx or a folder."""
    if out is None:
        return MODELS_DIR / f"{family}.onnx"
    out = Path(out)
    return out if out.suffix == ".onnx" else out / f"{family}.onnx"


def read_config(run_dir: Path) -> dict | None:
    try:
        cfg = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return cfg if isinstance(cfg, dict) else None


def run_family(run_dir: Path) -> str | None:
    cfg = read_config(run_dir) or {}
    name = (cfg.get("model") or {}).get("name") if isinstance(cfg.get("model"), dict) else None
    return name if isinstance(name, str) else None


def _age_key(run_dir: Path) -> tuple:
    # config.json's ISO "created" sorts by time; the checkpoint's mtime breaks ties and covers old runs
    created = (read_config(run_dir) or {}).get("created") or ""
    return (str(created), (run_dir / CHECKPOINT_NAME).stat().st_mtime, run_dir.name)


def list_runs(runs_dir: Path = RUNS_DIR) -> dict[str, list[Path]]:
    """Finished runs (a best.pt beside a config.json) by family, newest first. Sweep folders
    (runs inside a folder) are searched one level down."""
    found: dict[str, list[Path]] = {}
    if not runs_dir.is_dir():
        return found
    candidates = [p for p in runs_dir.iterdir() if p.is_dir()]
    candidates += [q for p in candidates if not (p / "config.json").is_file() for q in p.iterdir() if q.is_dir()]
    for run in candidates:
        family = run_family(run)
        if family and (run / CHECKPOINT_NAME).is_file():
            found.setdefault(family, []).append(run)
    return {f: sorted(runs, key=_age_key, reverse=True) for f, runs in sorted(found.items())}


def resolve_sources(
    model: str | None, run: str | Path | None = None, checkpoint: str | Path | None = None, runs_dir: Path = RUNS_DIR
) -> list[ExportSource]:
    """--model FAMILY|all, --run DIR, --checkpoint FILE -> the checkpoints to export."""
    if run and checkpoint:
        raise ValueError("give --run or --checkpoint, not both")
    if (run or checkpoint) and model == "all":
        raise ValueError("--model all exports the newest run of each family; drop --run/--checkpoint")
    if checkpoint:
        ckpt = Path(checkpoint)
        if not ckpt.is_file():
            raise ExportError(f"{ckpt}: checkpoint not found")
        run_dir = ckpt.parent if (ckpt.parent / "config.json").is_file() else None
        return [ExportSource(ckpt, run_dir, model)]
    if run:
        run_dir = Path(run)
        if not run_dir.is_dir():
            raise ExportError(f"{run_dir}: no such run folder")
        ckpt = run_dir / CHECKPOINT_NAME
        if not ckpt.is_file():
            raise ExportError(f"{run_dir}: no {CHECKPOINT_NAME} (the run has not finished an epoch)")
        family = run_family(run_dir)
        if model and family and family != model:
            raise ExportError(f"{run_dir}: the run is a {family} model, not {model}")
        return [ExportSource(ckpt, run_dir, family or model)]
    if not model:
        raise ValueError("say what to export: --model FAMILY|all, --run DIR or --checkpoint FILE")
    runs = list_runs(runs_dir)
    if model == "all":
        if not runs:
            raise ExportError(f"no finished run under {runs_dir} (train one with vc-train)")
        return [ExportSource(r[0] / CHECKPOINT_NAME, r[0], f) for f, r in runs.items()]
    if model not in runs:
        raise ExportError(f"no finished {model} run under {runs_dir} (train one with vc-train --model {model})")
    newest = runs[model][0]
    return [ExportSource(newest / CHECKPOINT_NAME, newest, model)]
