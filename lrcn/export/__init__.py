"""ONNX export, the parity gate, edge variants and inspection (torch, onnx).

`export_run(run_or_checkpoint, out=None, ...)` is the Python entry point (vc-export calls it);
it is imported on first use so that `vc-inspect` and `--help` never load torch.
"""

from __future__ import annotations

__all__ = ["ExportError", "ExportResult", "export_run", "resolve_sources"]


def __getattr__(name: str):
    if name in ("export_run", "ExportResult"):
        from lrcn.export import pipeline

        return getattr(pipeline, name)
    if name in ("ExportError", "resolve_sources"):
        from lrcn.export import sources

        return getattr(sources, name)
    raise AttributeError(f"module 'lrcn.export' has no attribute {name!r}")
