"""vc-bench's JSON keys (stable snake_case) and the words the tables show for them: the one place.

Results written before the keys (bench_version 1 used the display words as keys) are read
through `upgrade`, so an old JSON renders the same tables.
"""

from __future__ import annotations

BENCH_VERSION = 2

LABELS = {
    "clip": {
        "eager": "eager",
        "fp32": "onnxruntime fp32",
        "fp16": "onnxruntime fp16",
        "int8": "onnxruntime int8",
        "int8_dynamic": "onnxruntime int8 dynamic",
    },
    "stream": {
        "eager_rerun": "eager full-window re-run",
        "window": "onnxruntime window",
        "step": "onnxruntime step",
        "window_int8": "onnxruntime window, int8",
        "step_int8": "onnxruntime step, int8",
    },
    "e2e": {"window": "window", "step": "step", "window_int8": "window, int8", "step_int8": "step, int8"},
    "train": {"without_cache": "epoch without cache", "with_cache": "epoch with cache"},
    "profile": {"fp32": "fp32", "fp16": "fp16", "int8": "int8", "int8_dynamic": "int8 dynamic"},
}


def label(section: str, key: str) -> str:
    """What a table (or a log line) shows for `key` in `section`; an unknown key shows as it is."""
    return LABELS.get(section, {}).get(key, key)


def _rekey(d, section: str, *, prefix: str = "") -> None:
    """Rename, in place, the version-1 keys of dict `d` (display words, maybe without `prefix`)."""
    if not isinstance(d, dict):
        return
    for key, word in LABELS[section].items():
        old = word.removeprefix(prefix)
        if old != key and old in d:
            d[key] = d.pop(old)


def upgrade(doc: dict) -> dict:
    """A vc-bench document with today's keys (a version-1 document is converted in place)."""
    if doc.get("bench_version", 1) >= BENCH_VERSION:
        return doc
    for entry in doc.get("models", {}).values():
        clip = entry.get("clip") or {}
        for part in ("batch1", "batch"):
            for name in ("sides", "speedup_vs_eager", "vs_fp32"):
                _rekey((clip.get(part) or {}).get(name), "clip")
        _rekey(clip.get("agreement"), "clip", prefix="onnxruntime ")
        stream = entry.get("stream") or {}
        for name in ("sides", "cheaper_than_eager"):
            _rekey(stream.get(name), "stream")
        _rekey((entry.get("e2e") or {}).get("modes"), "e2e")
        _rekey((entry.get("train") or {}).get("epoch_s"), "train")
        _rekey(entry.get("profile"), "profile")
    doc["bench_version"] = BENCH_VERSION
    return doc
