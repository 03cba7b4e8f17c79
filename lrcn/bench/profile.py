"""Where onnxruntime spends a clip's time: its own profiler, per operator type.

One batch-1 clip through the fp32 model and the fp16 and int8 variants, each in a session with
profiling on; the kernel times ("Node" events ending in _kernel_time) are summed by operator
type. It explains why vc-export's int8 now quantizes Conv statically: all-dynamic int8 turns
each Conv into a ConvInteger plus the ops that quantize its input at run time.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path

from lrcn.bench.config import BenchConfig
from lrcn.runtime import contract as K

TOP = 6
MODELS = {"fp32": "full", "fp16": "fp16", "int8": "int8", "int8_dynamic": "int8_dynamic"}


def op_times(path: Path, x, threads: int, runs: int = 2) -> dict:
    """{op type: ms per run} averaged over `runs` profiled runs (the first run is left out)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "profile")
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        for _ in range(runs + 1):
            sess.run(None, {K.INPUT_FRAMES: x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    spans = sorted(
        (e["ts"], e["ts"] + e["dur"]) for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"
    )[1:]  # drop the warm-up
    ops: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            if any(a <= e["ts"] <= b for a, b in spans):
                ops[e["args"].get("op_name", "?")] += e["dur"] / 1000.0 / max(len(spans), 1)
    total = sum(ops.values())
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:TOP]
    return {
        "kernel_ms": round(total, 3),
        "top_ops": [{"op": op, "ms": round(ms, 3), "share": round(ms / total, 3) if total else 0.0} for op, ms in top],
    }


def measure(subject, cfg: BenchConfig, log=print) -> dict:
    log("  profile: onnxruntime per-operator kernel times, one batch-1 clip")
    x = subject.clip(1)
    return {name: op_times(subject.files[key], x, cfg.threads) for name, key in MODELS.items() if key in subject.files}
