"""Render vc-bench JSON results as benchmarks/README.md (every figure from the JSON).

    .venv/bin/python benchmarks/make_table.py benchmarks/results-cpu.json [more.json ...] > benchmarks/README.md

A `notes.md` beside this script (the why behind the figures, no numbers of its own) is
appended when present.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lrcn.bench.table import render

INTRO = """# Benchmarks

Made by `vc-bench` and rendered by `benchmarks/make_table.py` from the JSON beside this file:
do not edit the figures by hand; rerun the command shown under each heading instead.
Every comparison is side by side in one process: eager PyTorch (the lab's way) against the
exported model on onnxruntime, the way `vc-run` runs it.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="vc-bench --json files")
    ap.add_argument("--notes", default=str(Path(__file__).with_name("notes.md")))
    args = ap.parse_args()
    docs = [json.loads(Path(p).read_text()) for p in args.results]
    text = INTRO + "\n" + render(docs)
    notes = Path(args.notes)
    if notes.is_file():
        text += "\n" + notes.read_text()
    print(text, end="")


if __name__ == "__main__":
    main()
