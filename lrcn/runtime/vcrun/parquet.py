"""`vc-run --parquet PATH`: the clip-mode rows as one Parquet table, typed, for tools that read Parquet.

Columns follow --csv (output.CSV_COLUMNS), but typed: probability and ms (the total) as float64,
clips and frames as int64, top_k as a list of {label, probability}; a failed file has its error
and nulls elsewhere. pyarrow comes with the `cluster` extra and is imported only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lrcn.core.atomic import atomic_path
from lrcn.core.errors import LrcnError


def import_pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401  (the writer is a submodule)
    except ImportError:
        raise LrcnError("--parquet needs pyarrow, which is not installed: pip install 'lrcn[cluster]'") from None
    return pa


def parquet_table(rows: list[dict]) -> Any:
    pa = import_pyarrow()
    schema = pa.schema(
        [
            ("source", pa.string()),
            ("label", pa.string()),
            ("probability", pa.float64()),
            ("top_k", pa.list_(pa.struct([("label", pa.string()), ("probability", pa.float64())]))),
            ("clips", pa.int64()),
            ("frames", pa.int64()),
            ("ms", pa.float64()),
            ("error", pa.string()),
        ]
    )
    columns: dict[str, list] = {name: [] for name in schema.names}
    for r in rows:
        columns["source"].append(r["source"])
        columns["label"].append(r.get("label"))
        columns["probability"].append(r.get("probability"))
        top = r.get("top_k")
        columns["top_k"].append(None if top is None else [{"label": n, "probability": p} for n, p in top])
        columns["clips"].append(r.get("clips"))
        columns["frames"].append(r.get("frames"))
        ms = r.get("ms")
        columns["ms"].append(ms.get("total") if isinstance(ms, dict) else ms)
        columns["error"].append(r.get("error"))
    return pa.table(columns, schema=schema)


def write_parquet(path: str | Path, rows: list[dict]) -> None:
    """Atomic, like write_csv: an earlier file at `path` is replaced whole or left as it was."""
    pa = import_pyarrow()
    table = parquet_table(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pa.parquet.write_table(table, tmp)
