"""vc-bench JSON -> markdown tables (torch-free): what benchmarks/README.md is made of.

Every number comes from the JSON; nothing here is typed by hand but the issue's targets.
"""

from __future__ import annotations

from lrcn.bench.labels import label, upgrade

CLIP_FP32 = "Clip latency, onnxruntime fp32 over eager, batch 1"
CLIP_INT8 = "Clip latency, onnxruntime int8 over eager, batch 1"
E2E = "Stream mode on a 30 fps source, decode included"
TARGETS = [
    # (getter, what, {family: threshold}); a getter is a path of keys into one model's results
    ("clip_speedup", CLIP_FP32, {"convlstm": 3.0, "resnetlstm": 2.0, "pretrained": 1.3}),
    (
        "stream_gain",
        "Streaming per-frame cost, eager full-window re-run over the runtime's window",
        {"convlstm": 10.0, "pretrained": 12.0},
    ),
    ("e2e_fps", f"{E2E} (fps, window)", {"pretrained": 25.0}),
    ("train_gain", "Frozen-backbone epoch, without the feature cache over with it", {"pretrained": 30.0}),
    ("int8_gain", "int8 over fp32 (onnxruntime, batch 1)", {"pretrained": 1.5}),
    ("int8_agreement", "int8 top-1 agreement with fp32", {"pretrained": 0.98}),
    # the int8 variant where fp32 misses (vc-run --model M.int8.onnx), and vc-export's int8 before
    # its Conv layers went static
    ("clip_speedup_int8", CLIP_INT8, {"resnetlstm": 2.0, "pretrained": 1.3}),
    ("e2e_fps_int8", f"{E2E} (fps, int8 variant, window)", {"pretrained": 25.0}),
    ("e2e_fps_int8_step", f"{E2E} (fps, int8 variant, step)", {"pretrained": 25.0}),
    ("int8dyn_gain", "int8 over fp32, the all-dynamic int8 vc-export made before", {"pretrained": 1.5}),
    # issue 14: streams per box (vc-bench --only streams)
    ("streams_one", "Concurrent 25 fps streams served by one process (fp32)", {"convlstm": 16}),
    ("streams_ratio", "Streams served, one process over separate single-stream processes (fp32)", {"convlstm": 2.0}),
    ("streams_int8", "Concurrent 25 fps streams served by one process (int8 variant)", {"pretrained": 1}),
]
GETTERS = {
    "clip_speedup": ("clip", "batch1", "speedup_vs_eager", "fp32", "ratio"),
    "stream_gain": ("stream", "cheaper_than_eager", "window", "ratio"),
    "e2e_fps": ("e2e", "modes", "window", "fps"),
    "train_gain": ("train", "speedup", "ratio"),
    "int8_gain": ("clip", "batch1", "vs_fp32", "int8", "ratio"),
    "int8dyn_gain": ("clip", "batch1", "vs_fp32", "int8_dynamic", "ratio"),
    "clip_speedup_int8": ("clip", "batch1", "speedup_vs_eager", "int8", "ratio"),
    "e2e_fps_int8": ("e2e", "modes", "window_int8", "fps"),
    "e2e_fps_int8_step": ("e2e", "modes", "step_int8", "fps"),
    "int8_agreement": ("clip", "agreement", "int8", "top1_agreement"),
    "streams_one": ("streams", "variants", "fp32", "served_one_process"),
    "streams_ratio": lambda m: _streams_ratio(m),
    "streams_int8": ("streams", "variants", "int8", "served_one_process"),
}
"""getter -> a path of keys into one model's results, or a function of them."""


def _streams_ratio(m: dict):
    v = _get(m, "streams", "variants", "fp32")
    if not v or not v.get("served_processes") or v.get("processes_capped"):
        return None  # separate processes never failed within the ladder: no ratio to state
    return v["served_one_process"] / v["served_processes"]


def _get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


UNITLESS = ("e2e_fps", "streams_one", "streams_int8")
"""Getters whose figure is a count or a rate, not a ratio."""


def _value(m: dict, getter: str):
    g = GETTERS[getter]
    return g(m) if callable(g) else _get(m, *g)


def _asked(doc: dict, getter: str) -> bool:
    """False when the bench ran without the target's section (a partial bench shows only its own targets)."""
    sections = doc["config"].get("sections")
    prefixes = (("streams", "streams"), ("stream", "stream"), ("e2e", "e2e"), ("train", "train"), ("", "clip"))
    section = next(sec for prefix, sec in prefixes if getter.startswith(prefix))
    return sections is None or section in sections


def _ms(s: dict | None, unit: str = "ms") -> str:
    if not s:
        return "–"
    return f"{_num(s['median'])} {unit} [{_num(s['p25'])}–{_num(s['p75'])}]"


def _num(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 1 else f"{v:.3g}"


def _x(r: dict | None) -> str:
    if not r:
        return "–"
    return f"{_num(r['ratio'])}× [{_num(r['round_p25'])}–{_num(r['round_p75'])}]"


def _rows(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


def _measured(doc: dict, section: str, rows: list[list[str]], width: int):
    """(family, section dict) for each model that measured `section`; a failed one gets an error row."""
    for fam, e in doc["models"].items():
        sec = e.get(section)
        if not isinstance(sec, dict) or sec.get("skipped"):
            continue
        if sec.get("error"):
            rows.append([fam, f"failed: {sec['error']}"] + [""] * (width - 2))
            continue
        yield fam, sec


def _header(doc: dict) -> list[str]:
    m, c = doc["machine"], doc["config"]
    v = m["versions"]
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    subjects = "; ".join(f"{f}: {e['subject']['note']}" for f, e in doc["models"].items())
    return [
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['arch']}), {m['memory_gib']} GiB{gpu}; {m['os']}",
        f"- Software: Python {m['python']}, torch {v['torch']}, onnxruntime {v['onnxruntime']}, onnx {v['onnx']}, "
        f"OpenCV {v['cv2']}",
        f"- Date: {m['date']}; command: `{m['command']}`; {doc.get('seconds', '?')} s in all",
        f"- Device {c['device']}; threads: torch {doc['threads']['torch']}, onnxruntime intra-op "
        f"{doc['threads']['onnxruntime_intra_op']}; load average (1, 5, 15 min) at start "
        f"{m.get('load_average_start')}, at end {m.get('load_average_end')}",
        f"- Isolation: {doc['isolation']}",
        f"- Timing: warm-up first, then up to {c['repeat']} rounds in which every side runs one block "
        f"(calls for {c['block_s']} s, one call at least) in turn; median [p25–p75] over all calls; a ratio is "
        f"the ratio of medians [p25–p75 of the per-round ratios]; no new round after {c['max_s']:g} s",
        f"- Models: {subjects}",
    ]


def _clip(doc: dict) -> list[str]:
    rows = []
    n = doc["config"]["batch"]
    for fam, sec in _measured(doc, "clip", rows, 7):
        b1, bn = sec["batch1"], sec["batch"]
        for side in b1["sides"]:
            s1, sn = b1["sides"][side], bn["sides"][side]
            speed1 = _x(b1["speedup_vs_eager"].get(side)) if side != "eager" else "1×"
            speedn = _x(bn["speedup_vs_eager"].get(side)) if side != "eager" else "1×"
            agree = _get(sec, "agreement", side, "top1_agreement")
            rows.append(
                [
                    fam,
                    label("clip", side),
                    _ms(s1),
                    speed1,
                    f"{_num(sn['per_s'])} clips/s ({sn['n']} calls)",
                    speedn,
                    "–" if agree is None else f"{agree:.0%}",
                ]
            )
    head = ["model", "side", "latency, batch 1", "× eager", f"throughput, batch {n}", "× eager", "top-1 = fp32"]
    notes = []
    for fam, e in doc["models"].items():
        a = _get(e, "clip", "agreement")
        if a:
            notes.append(
                f"{fam}: top-1 agreement with onnxruntime fp32 on the {a['clips']} throughput clips "
                f"({a['clips_from']})"
                + ("; random weights, so it says little about a trained model" if a.get("random_weights") else "")
            )
    return _rows(head, rows) + ([""] + [f"- {n}" for n in notes] if notes else [])


def _stream(doc: dict) -> list[str]:
    rows = []
    for fam, sec in _measured(doc, "stream", rows, 5):
        for side, s in sec["sides"].items():
            gain = _x(sec["cheaper_than_eager"].get(side)) if side in sec["cheaper_than_eager"] else "1×"
            rows.append([fam, label("stream", side), _ms(s), _num(s["fps"]), gain])
        if sec.get("step_absent"):
            rows.append([fam, label("stream", "step"), f"absent ({sec['step_absent']})", "", ""])
    return _rows(["model", "way", "per new frame", "sustainable fps", "× cheaper than eager"], rows)


def _flow(doc: dict) -> list[str]:
    sec = doc.get("flow")
    if not isinstance(sec, dict):
        return []
    if sec.get("error"):
        return _rows(["input size", "per new frame"], [["", f"failed: {sec['error']}"]])
    rows = [[k, _ms(s), _num(s["fps"]), f"{sec['range_px'].get(k, '?'):g} px"] for k, s in sec["sizes"].items()]
    rows += [[f"adiff {k}", _ms(s), _num(s["fps"]), "shift +-K"] for k, s in sec.get("adiff", {}).items()]
    return _rows(["input size", "per new frame", "frames/s, this step alone", "range K"], rows)


def _e2e(doc: dict) -> list[str]:
    rows = []
    for fam, sec in _measured(doc, "e2e", rows, 8):
        for mode, r in sec["modes"].items():
            rows.append(
                [
                    fam,
                    label("e2e", mode),
                    f"{_num(r['source_fps'])} fps, {_num(r['seconds'])} s",
                    str(r["read"]),
                    str(r["processed"]),
                    str(r["dropped"]),
                    _num(r["fps"]),
                    _num(r["ms_per_frame_median"]),
                ]
            )
    return _rows(
        [
            "model",
            "stream mode",
            "source",
            "frames read",
            "processed",
            "dropped",
            "processed fps",
            "ms per frame (median)",
        ],
        rows,
    )


def _train(doc: dict) -> list[str]:
    rows = []
    for fam, sec in _measured(doc, "train", rows, 6):
        ep = sec["epoch_s"]
        rows.append(
            [
                f"{fam} ({sec['backbone']})",
                f"{sec['clips']} clips × T={sec['frames']}, {sec['img_size']} px",
                _ms(ep["without_cache"], "s"),
                _num(sec["feature_build_s"]) + " s",
                _ms(ep["with_cache"], "s"),
                _x(sec["speedup"]),
            ]
        )
    return _rows(["model", "data", "epoch without cache", "feature build (once)", "epoch with cache", "× faster"], rows)


def _memory(doc: dict) -> list[str]:
    rows = []
    for fam, sec in _measured(doc, "memory", rows, 4):
        rows.append([fam, f"{_num(sec['runtime_mb'])} MB", f"{_num(sec['torch_mb'])} MB", f"{_num(sec['ratio'])}×"])
    return _rows(["model", "runtime process (no torch)", "PyTorch process", "PyTorch / runtime"], rows)


def _profile(doc: dict) -> list[str]:
    rows = []
    for fam, sec in _measured(doc, "profile", rows, 4):
        for variant, p in sec.items():
            if not isinstance(p, dict) or "top_ops" not in p:
                continue
            ops = ", ".join(f"{o['op']} {_num(o['ms'])} ms ({o['share']:.0%})" for o in p["top_ops"])
            rows.append([fam, label("profile", variant), f"{_num(p['kernel_ms'])} ms", ops])
    return _rows(["model", "onnxruntime model", "kernel time per clip", "top operators"], rows)


def _streams(doc: dict) -> list[str]:
    rows, ladder = [], []
    ge = lambda capped: ">= " if capped else ""  # noqa: E731 - a ladder that ended served: a lower bound
    for fam, sec in _measured(doc, "streams", rows, 8):
        for var, v in sec["variants"].items():
            for src, pre in (
                ("paced in-process", ""),
                ("loopback MJPEG, decoded", "mjpeg_"),
                ("loopback H.264 RTSP 640x360, decoded", "rtsp_"),
            ):
                if f"{pre}one_process" not in v:
                    continue
                one, sep = v[f"{pre}served_one_process"], v[f"{pre}served_processes"]
                capped = v.get(f"{pre}processes_capped")
                ratio = "–" if not sep else f"{'<= ' if capped else ''}{one / sep:.1f}×"
                procs = v[f"{pre}processes"]
                each = next((r["rss_mb_each"] for r in reversed(procs) if r["served"]), None)
                mb = lambda x: "–" if x is None else f"{_num(x)} MB"  # noqa: E731
                extra = mb(v["mb_per_extra_stream"]) if not pre else "–"
                rows.append(
                    [
                        fam,
                        var,
                        src,
                        f"{ge(v.get(f'{pre}one_process_capped'))}{one}",
                        f"{ge(capped)}{sep}",
                        ratio,
                        extra,
                        mb(each),
                    ]
                )
                for way, key in (("one process", f"{pre}one_process"), ("N processes", f"{pre}processes")):
                    steps = ", ".join(
                        f"{r['streams']}: {'ok' if r['served'] else 'no'}"
                        f"{' (2nd try)' if r.get('retried') else ''} ({r['worst_share']:.0%}, "
                        f"p95 {_num(r['worst_p95_ms'])} ms)"
                        for r in v[key]
                    )
                    ladder.append(f"- {fam} {var}, {src}, {way}: {steps}")
    if not rows:
        return []
    sec = next(
        e["streams"]
        for e in doc["models"].values()
        if isinstance(e.get("streams"), dict) and "variants" in e["streams"]
    )
    head = [
        "model",
        "variant",
        "sources",
        "streams served, one process",
        "streams served, N processes",
        "one / N",
        "memory per extra stream (one process)",
        "memory of a single-stream process",
    ]
    notes = [
        f"- Served: every stream's due frames >= {sec['share']:.0%} processed and capture-to-prediction "
        f"latency p95 <= {_num(sec['p95_ms'])} ms, over {_num(sec['seconds'])} s after a {_num(sec['warm_s'])} s "
        f"warm-up; sources {_num(sec['fps'])} fps ({sec['source']}); each way climbs its ladder and stops at "
        "the first N not served in two tries running (>= : the ladder's last step was still served). Paced sources: latency from "
        "the frame's release; MJPEG and RTSP: from the decoded frame's arrival in lrcn, due = fps x seconds. "
        "Per step: N: served (worst share processed, worst p95)."
    ]
    return _rows(head, rows) + ["", *notes, *ladder]


def _target(what: str, fam: str, threshold: float, getter: str, m: dict) -> list[str]:
    v = _value(m, getter)
    pct = getter == "int8_agreement"
    if pct and _get(m, "clip", "agreement", "random_weights"):
        return [
            what,
            fam,
            f">= {threshold:.0%}",
            "–" if v is None else f"{v:.0%}",
            "n/a: random weights give near-uniform probabilities; vc-export gates a trained model",
        ]
    unit = "" if getter.startswith(UNITLESS) else "×"
    shown = "–" if v is None else (f"{v:.0%}" if pct else str(v) if isinstance(v, int) else f"{_num(v)}{unit}")
    want = f">= {threshold:.0%}" if pct else f">= {threshold:g}{unit}"
    met = "not measured" if v is None else ("yes" if v >= threshold else "**no**")
    return [what, fam, want, shown, met]


def targets(doc: dict) -> list[list[str]]:
    return [
        _target(what, fam, threshold, getter, doc["models"][fam])
        for getter, what, thresholds in TARGETS
        for fam, threshold in thresholds.items()
        if fam in doc["models"] and _asked(doc, getter)
    ]


def render(docs: list[dict]) -> str:
    """Markdown for one or more vc-bench JSON documents (e.g. CPU and CUDA)."""
    out: list[str] = []
    for doc in map(upgrade, docs):
        dev = doc["config"]["device"]
        title = f"## {dev.upper()}" + (
            f": {doc['machine']['gpu']}"
            if doc["machine"].get("gpu")
            else f": {doc['machine']['cpu']}, {doc['machine']['cores']} cores"
        )
        out += [title, "", *_header(doc), ""]
        tg = targets(doc)
        if tg:
            out += [
                "### Targets (issues 5 and 14)",
                "",
                *_rows(["target", "model", "target", "measured", "met?"], tg),
                "",
            ]
        for name, fn in (
            ("Clip mode", _clip),
            ("Streaming, per new frame (preprocessing + inference)", _stream),
            ("End to end: stream mode on a 30 fps source", _e2e),
            (
                "Optical flow input: the motion step per new frame (grey + DIS, `--input flow`; adiff: its whole input)",
                _flow,
            ),
            ("Training: frozen backbone, one epoch", _train),
            ("Memory: peak RSS", _memory),
            ("Profile: onnxruntime kernel time by operator, one batch-1 clip", _profile),
            ("Streams per box: concurrent camera-like streams", _streams),
        ):
            body = fn(doc)
            if len(body) > 2:
                out += [f"### {name}", "", *body, ""]
    return "\n".join(out).rstrip() + "\n"
