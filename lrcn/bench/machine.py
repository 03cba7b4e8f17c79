"""Facts about the machine and software a bench ran on, for the JSON and the table's header."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - absent or broken: the JSON says null
        return None


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_info(device: str) -> dict:
    import torch

    gpu = torch.cuda.get_device_name(0) if device == "cuda" and torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "memory_gib": _mem_gib(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "gpu": gpu,
        "versions": {m: _version(m) for m in ("torch", "onnxruntime", "onnx", "numpy", "cv2", "torchvision")},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["vc-bench", *sys.argv[1:]]),
        "load_average_start": load_average(),
    }
