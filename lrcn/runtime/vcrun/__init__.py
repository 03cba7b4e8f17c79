"""vc-run, the command: its arguments (`cli`), clip, stream and timeline modes, what it prints and
writes, the mosaic window, `--ray` and `--parquet`. Built on the library in `lrcn.runtime`, which
never imports this package (tests/test_import_graph.py)."""
