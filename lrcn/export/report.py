"""What one export reports, as typed data: the parity gate's figures and each edge variant's.

`ExportReport.to_dict()` is the M.parity.json document (its keys are the file's contract);
vc-export reads the fields, never string keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

REPORT_VERSION = 1


def _plain(obj, optional: tuple[str, ...]) -> dict:
    """A dataclass as a JSON-ready dict; `optional` fields are left out while None."""
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if v is None and f.name in optional:
            continue
        out[f.name] = v.to_dict() if hasattr(v, "to_dict") else v
    return out


@dataclass
class StreamFigures:
    """The int8 streaming parts against the fp32 full model (variants.measure_stream)."""

    window_agreement: float
    agreement: float
    """The lower of the window's and the step stream's top-1 agreement."""
    encoder_ms: float
    fp32_encoder_ms: float
    step_agreement: float | None = None
    accepted: bool = False
    """Written with the variant (agreement high enough, and the variant itself accepted)."""

    def to_dict(self) -> dict:
        return _plain(self, ("step_agreement",))


@dataclass
class VariantFigures:
    """One edge variant against its fp32 file (variants.measure), and whether it was written."""

    size_bytes: int
    size_ratio: float
    latency_ms: float
    fp32_latency_ms: float
    agreement: float
    clips: int
    clips_from: str
    max_abs_dprobs: float
    T: int
    min_agreement: float
    accepted: bool = False
    quantization: str | None = None
    stream: StreamFigures | None = None
    path: str | None = None
    """File name, when written."""

    def to_dict(self) -> dict:
        return _plain(self, ("quantization", "stream", "path"))


@dataclass
class ExportReport:
    family: str
    model: str
    checkpoint: str
    checkpoint_sha256: str
    opset: int
    tolerance: float
    lengths: list[int]
    batches: list[int]
    exported: str
    report_version: int = REPORT_VERSION
    passed: bool = False
    error: str | None = None
    files: dict[str, dict] = field(default_factory=dict)
    """kind -> {"path", "size_bytes", "dims"} of each gated file."""
    input: dict | None = None
    """{"source": where the gate's clips came from, "videos": their files}."""
    full: dict | None = None
    window: dict | None = None
    step: dict | None = None
    """The gate's summaries (parity.summarize); step is {"absent": why} for a head without a step form."""
    gate_seconds: float | None = None
    variants: dict[str, VariantFigures] | None = None
    seconds: float | None = None

    def to_dict(self) -> dict:
        out = _plain(self, ("input", "full", "window", "step", "gate_seconds", "variants", "seconds"))
        if self.variants is not None:
            out["variants"] = {k: v.to_dict() for k, v in self.variants.items()}
        return out

    def summary_line(self, target: Path) -> str:
        parts = [f"full {self.full['max_abs_dprobs']:.1e}"]
        if self.window:
            parts.append(f"window {self.window['max_abs_dprobs']:.1e}")
        if self.step and "absent" not in self.step:
            parts.append(f"step {self.step['max_abs_dprobs']:.1e}")
        elif self.step:
            parts.append(f"no step model ({self.step['absent'].split(':')[0]})")  # the reason's subject
        src = self.input["source"]
        return (
            f"parity ok {self.family}: max |Δprobs| {', '.join(parts)} (tol {self.tolerance:g}; "
            f"T={','.join(map(str, self.lengths))} x batch {','.join(map(str, self.batches))}; "
            f"{'synthetic input' if src == 'synthetic' else src + ' clips'}); checker ok; batch, time symbolic "
            f"-> {target}"
        )
