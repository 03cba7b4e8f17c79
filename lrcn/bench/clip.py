"""a. Clip mode: latency at batch 1 and throughput at batch N, eager PyTorch against onnxruntime.

Sides: eager PyTorch (torch.inference_mode, torch.set_num_threads = the bench's threads) and
the runtime's LrcnModel on the fp32 model and its fp16 and int8 variants, and the all-dynamic
int8 that vc-export made before (onnxruntime intra-op
threads = the same count). All run in this process with onnxruntime's thread spinning off,
so an onnxruntime call never leaves spinning threads that slow the PyTorch call after it.
"""

from __future__ import annotations

import numpy as np
import torch

from lrcn.bench.config import BenchConfig
from lrcn.bench.labels import label
from lrcn.bench.timing import Side, alternate, ratio
from lrcn.runtime.session import SessionConfig

ORT_SIDES = {"fp32": "full", "fp16": "fp16", "int8": "int8", "int8_dynamic": "int8_dynamic"}
"""side -> Subject.files key: vc-export's fp32, fp16 and int8, and its earlier all-dynamic int8."""


def ort_models(subject, cfg: BenchConfig) -> dict:
    from lrcn.runtime.model import LrcnModel

    scfg = SessionConfig(device=cfg.device, threads=cfg.threads, spinning=False)
    return {p: LrcnModel(subject.files[key], scfg) for p, key in ORT_SIDES.items() if key in subject.files}


def torch_device(cfg: BenchConfig) -> torch.device:
    return torch.device("cuda" if cfg.device == "cuda" else "cpu")


def eager_probs(model, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        probs = torch.softmax(model(x), dim=-1)
    if probs.is_cuda:
        torch.cuda.synchronize()
    return probs


def _sides(subject, models: dict, x: np.ndarray, device: torch.device, out: dict) -> list[Side]:
    """One Side per contender; each keeps its latest probabilities in `out` for the agreement check."""
    xt = torch.from_numpy(x).to(device)
    model = subject.model.to(device)

    def eager():
        out["eager"] = eager_probs(model, xt).cpu().numpy()

    def ort(p):
        def call():
            out[p] = models[p].probs(x)

        return call

    n = x.shape[0]
    return [Side("eager", eager, n)] + [Side(p, ort(p), n) for p in models]


def measure(subject, cfg: BenchConfig, clips: np.ndarray, clips_origin: str, log=print) -> dict:
    """{"batch1": {...}, "batchN": {...}, "agreement": {...}}: ms per clip, ratios against eager."""
    models = ort_models(subject, cfg)
    device = torch_device(cfg)
    result: dict = {
        "providers": models["fp32"].providers,
        "spinning": "off (onnxruntime threads sleep when idle)",
        "device_note": models["fp32"].factory.note,
    }
    for key, x, warm in (("batch1", subject.clip(1), True), ("batch", clips, None)):
        probs: dict = {}
        sides = _sides(subject, models, x, device, probs)
        if warm is None:
            # the batch-1 rounds warmed these sessions; a ResNet152 batch costs tens of seconds a call
            warm = result["batch1"]["sides"]["eager"]["median"] * x.shape[0] < 2000
        log(f"  clip mode, batch {x.shape[0]}: {', '.join(label('clip', s.name) for s in sides)}")
        timings = alternate(sides, rounds=cfg.repeat, block_s=cfg.block_s, warmup=warm, max_s=cfg.max_s)
        for s in sides:
            timings[s.name]["per_s"] = round(1000.0 / timings[s.name]["median"], 3)
        result[key] = {
            "batch": int(x.shape[0]),
            "warmup": warm,
            "sides": timings,
            "speedup_vs_eager": {s.name: ratio(sides[0], s) for s in sides[1:]},
            "vs_fp32": {s.name: ratio(sides[1], s) for s in sides[2:]},
        }
        if key == "batch":
            result["agreement"] = _agreement(probs, clips_origin, subject.random_weights)
    return result


def _agreement(probs: dict, origin: str, random_weights: bool) -> dict:
    """Top-1 agreement with onnxruntime fp32 and max |Δprobs| on the batch of real clips."""
    ref = probs["fp32"]
    out = {"clips": int(ref.shape[0]), "clips_from": origin, "random_weights": random_weights}
    for name in (n for n in probs if n != "fp32"):
        delta = float(np.abs(probs[name] - ref).max())
        out[name] = {
            "top1_agreement": float((probs[name].argmax(-1) == ref.argmax(-1)).mean()),
            "max_abs_dprobs": delta if np.isfinite(delta) else None,
        }  # JSON has no NaN
    return out
