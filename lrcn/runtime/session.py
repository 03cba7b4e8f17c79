"""onnxruntime sessions on the providers that really work here.

The CUDA provider is asked for only when this onnxruntime build has it, and it counts only
when a session really gets it: onnxruntime-gpu lists CUDA as available on a machine without
a driver, then quietly runs on the CPU after printing a wall of errors. We hide the wall,
keep its reason, and either fall back in one line (`auto`) or refuse (`cuda`, `tensorrt`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lrcn.core.errors import LrcnError, ModelError
from lrcn.runtime.quiet import captured_output

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DeviceError(LrcnError):
    """A device that was asked for explicitly and cannot be had."""


@dataclass(frozen=True)
class SessionConfig:
    """Where and how the model's sessions run."""

    device: str = "auto"
    """auto (CUDA when a session really gets it, else CPU), cpu, cuda or tensorrt."""
    threads: int | None = None
    """Intra-op CPU threads; None lets onnxruntime use every core."""
    spinning: bool = True
    """Let onnxruntime's idle worker threads spin-wait for the next op (its default, fastest alone).
    Off, they sleep: another framework or process sharing the cores is not slowed by them."""

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


def provider_failure_reason(text: str) -> str:
    """onnxruntime's multi-line provider errors -> a short reason for one line."""
    text = _ANSI.sub("", text)
    low = text.lower()
    if "libcuda.so" in low or "nvcuda.dll" in low:
        return "no NVIDIA driver (libcuda not found)"
    if "no cuda-capable device" in low or "cudaerrornodevice" in low:
        return "no CUDA device"
    if "install tensorrt" in low or "libnvinfer" in low:
        return "TensorRT libraries not found"
    if "cudnn" in low and ("cannot open" in low or "not found" in low or "could not" in low):
        return "cuDNN not found"
    m = re.search(r"with error: (.+)", text) or re.search(r"\] (Failed to .+)", text)
    if m:
        return m.group(1).strip().split(". ")[0][:160]
    return "the session did not get it"


def _model_error(path: Path, e: Exception) -> ModelError:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    msg = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", msg)
    msg = re.sub(r"^Load model from .+? failed:", "", msg).strip()
    if "protobuf parsing failed" in msg.lower() or "no graph was found" in msg.lower():
        msg = "not an ONNX model, or a truncated one"
    return ModelError(f"{path}: cannot load ({msg})")


class SessionFactory:
    """Makes every session of one model on the same providers; the first session decides them.

    After the first `create`: `providers` is what sessions really run on and `note` says why
    `auto` fell back to the CPU (None when it did not).
    """

    def __init__(self, cfg: SessionConfig | None = None):
        self.cfg = cfg or SessionConfig()
        self._request: list | None = None
        self.providers: list[str] = []
        self.note: str | None = None

    def _options(self, spinning: bool):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3  # errors only; placement warnings are noise for a user
        if self.cfg.threads:
            so.intra_op_num_threads = self.cfg.threads
            so.inter_op_num_threads = 1
        if not spinning:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return so

    def _session(self, path: Path, providers: list, spinning: bool | None = None):
        import onnxruntime as ort

        spinning = self.cfg.spinning if spinning is None else spinning
        with captured_output() as cap:
            try:
                sess = ort.InferenceSession(str(path), self._options(spinning), providers=providers)
            except Exception as e:  # noqa: BLE001 - every load failure is a one-line ModelError
                raise _model_error(path, e) from None
        return sess, cap.text

    def create(self, path: str | Path, *, spinning: bool | None = None):
        """An InferenceSession for `path` on the decided providers. Raises ModelError or DeviceError.

        `spinning` overrides the config's for this session (after the first, which decides the providers)."""
        path = Path(path)
        if self._request is not None:
            return self._session(path, self._request, spinning)[0]
        sess = self._first(path)
        self.providers = list(sess.get_providers())
        return sess

    def _first(self, path: Path):
        import onnxruntime as ort

        device = self.cfg.device
        if device == "cpu":
            self._request = [CPU]
            return self._session(path, self._request)[0]
        want = TENSORRT if device == "tensorrt" else CUDA
        if want not in ort.get_available_providers():
            why = f"this onnxruntime has no {want} (install onnxruntime-gpu)"
            if device != "auto":
                raise DeviceError(f"--device {device}: {why}")
            return self._fallback(path, why)
        with captured_output() as cap:
            try:  # CUDA/cuDNN from pip wheels are found only after this (onnxruntime >= 1.21)
                getattr(ort, "preload_dlls", lambda: None)()
            except Exception:  # noqa: BLE001 - a failed preload shows up as the session's reason
                pass
        request: list[str | tuple[str, dict[str, object]]] = [want, CUDA, CPU] if want == TENSORRT else [CUDA, CPU]
        if want == TENSORRT:
            cache = str(trt_cache_dir(path))
            request[0] = (TENSORRT, {"trt_engine_cache_enable": True, "trt_engine_cache_path": cache})
        sess, text = self._session(path, request)
        if want in sess.get_providers():
            self._request = request
            return sess
        why = f"{want.removesuffix('ExecutionProvider')} did not start: {provider_failure_reason(cap.text + text)}"
        if device != "auto":
            raise DeviceError(f"--device {device}: {why}; use --device cpu or auto")
        self._request = [CPU]
        self.note = f"running on the CPU: {why}"
        return sess if sess.get_providers() == [CPU] else self._session(path, self._request)[0]

    def _fallback(self, path: Path, why: str):
        self._request = [CPU]
        self.note = f"running on the CPU: {why}"
        return self._session(path, self._request)[0]


def trt_cache_dir(model: Path) -> Path:
    """TensorRT's engine cache for `model`: per user (0700, under XDG_CACHE_HOME or ~/.cache) and
    keyed by the model file's SHA-256. A folder beside a model from elsewhere could hold planted
    engines, or be shared by other users; an engine built for one model never serves another."""
    h = hashlib.sha256()
    with open(model, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lrcn" / "tensorrt"
    folder = base / h.hexdigest()[:32]
    folder.mkdir(parents=True, exist_ok=True)
    for p in (base, folder):
        if p.is_symlink() or p.stat().st_uid != os.getuid():
            raise DeviceError(f"{p}: the TensorRT engine cache is not this user's own folder; remove it")
        os.chmod(p, 0o700)
    return folder
