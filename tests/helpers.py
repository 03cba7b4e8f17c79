"""Helpers shared by the tests: a fake model, an MJPEG camera, small videos, vc-run in process.

`fake_model` hand-builds tiny ONNX graphs that honour the export contract (no torch, instant):
encoder = mean over pixels @ We; head = mean over time @ Wh, softmax; full = head(encoder);
step carries h = sum of features and c = count, so T steps from zero equal the full model.
Good for the runtime's mechanics (conftest's `fake` fixture is one); `exported_tiny_run` exports a
really trained run with lrcn.export for the parity tests against PyTorch.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from lrcn.runtime import contract as K
from lrcn.runtime.preprocess import PreprocessSpec
from lrcn.runtime.sources import Frame

IR_VERSION = 9  # what onnxruntime 1.18+ loads; onnx's own default can be newer than the runtime


def _meta(kind: str, classes: list[str], t: int, spec: PreprocessSpec, latent: int, **kw) -> str:
    fields = dict(
        kind=kind,
        family="fake",
        class_names=classes,
        num_frames=t,
        preprocess=spec,
        sample_fps=5.0,
        bidirectional=False,
        lstm_layers=1,
        hidden_size=latent,
        latent_dim=latent,
        checkpoint_sha256="fake",
    )
    return K.ModelMetadata(**{**fields, **kw}).to_json()


def fake_model(
    folder: Path,
    *,
    classes=("a", "b", "c"),
    num_frames: int = 4,
    img_size: int = 32,
    modality: str = "rgb",
    zoom: str = "none",
    zoom_geometry=None,
    region=(0.0, 0.0, 1.0, 1.0),
    latent: int = 5,
    seed: int = 0,
    name: str = "fake",
    meta_overrides: dict | None = None,
    out_dim: int | None = None,
    weights: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write name.onnx, name.encoder.onnx, name.head.onnx, name.step.onnx; returns the full model's path.

    `weights` (We (C, latent), Wh (latent, K)) replaces the random ones: a model whose answer is known."""
    import onnx
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    folder.mkdir(parents=True, exist_ok=True)
    spec = PreprocessSpec(img_size=img_size, modality=modality, zoom=zoom, region=region)
    if zoom_geometry is not None:  # a roi.ZoomGeometry: the model was cut with it
        spec = PreprocessSpec(
            img_size=img_size, modality=modality, zoom=zoom, zoom_geometry=zoom_geometry, region=region
        )
    c, k = spec.channels, out_dim or len(classes)
    rng = np.random.default_rng(seed)
    we_w, wh_w = weights or (rng.normal(size=(c, latent)) * 3, rng.normal(size=(latent, k)) * 3)
    we = nh.from_array(np.asarray(we_w, np.float32), "We")
    wh = nh.from_array(np.asarray(wh_w, np.float32), "Wh")
    axes = lambda name, v: nh.from_array(np.array(v, np.int64), name)  # noqa: E731
    parts = {kind: f"{name}{suffix}" for kind, suffix in K.PART_SUFFIX.items()}
    f32 = lambda n, shape: h.make_tensor_value_info(n, TP.FLOAT, shape)  # noqa: E731
    head_nodes = [
        h.make_node("MatMul", ["pooled", "Wh"], [K.OUTPUT_LOGITS]),
        h.make_node("Softmax", [K.OUTPUT_LOGITS], [K.OUTPUT_PROBS], axis=-1),
    ]
    outs = [f32(K.OUTPUT_LOGITS, ["batch", k]), f32(K.OUTPUT_PROBS, ["batch", k])]
    graphs = {
        "full": (
            [f32(K.INPUT_FRAMES, ["batch", "time", c, img_size, img_size])],
            outs,
            [
                h.make_node("ReduceMean", [K.INPUT_FRAMES, "hw"], ["px"], keepdims=0),
                h.make_node("MatMul", ["px", "We"], ["feats"]),
                h.make_node("ReduceMean", ["feats", "t"], ["pooled"], keepdims=0),
                *head_nodes,
            ],
            [we, wh, axes("hw", [3, 4]), axes("t", [1])],
        ),
        "encoder": (
            [f32(K.INPUT_FRAME, ["batch", c, img_size, img_size])],
            [f32(K.FEATURES, ["batch", latent])],
            [
                h.make_node("ReduceMean", [K.INPUT_FRAME, "hw"], ["px"], keepdims=0),
                h.make_node("MatMul", ["px", "We"], [K.FEATURES]),
            ],
            [we, axes("hw", [2, 3])],
        ),
        "head": (
            [f32(K.FEATURES, ["batch", "time", latent])],
            outs,
            [h.make_node("ReduceMean", [K.FEATURES, "t"], ["pooled"], keepdims=0), *head_nodes],
            [wh, axes("t", [1])],
        ),
        "step": (
            [
                f32(K.INPUT_FRAME, ["batch", c, img_size, img_size]),
                f32(K.STATE_H, [1, "batch", latent]),
                f32(K.STATE_C, [1, "batch", latent]),
            ],
            [
                f32(K.OUTPUT_PROBS, ["batch", k]),
                f32(K.STATE_H_OUT, [1, "batch", latent]),
                f32(K.STATE_C_OUT, [1, "batch", latent]),
            ],
            [
                h.make_node("ReduceMean", [K.INPUT_FRAME, "hw"], ["px"], keepdims=0),
                h.make_node("MatMul", ["px", "We"], ["feat"]),
                h.make_node("Add", [K.STATE_H, "feat"], [K.STATE_H_OUT]),
                h.make_node("Add", [K.STATE_C, "one"], [K.STATE_C_OUT]),
                h.make_node("Div", [K.STATE_H_OUT, K.STATE_C_OUT], ["mean"]),
                h.make_node("Squeeze", ["mean", "zero"], ["pooled"]),
                h.make_node("MatMul", ["pooled", "Wh"], ["lg"]),
                h.make_node("Softmax", ["lg"], [K.OUTPUT_PROBS], axis=-1),
            ],
            [we, wh, axes("hw", [2, 3]), axes("zero", [0]), nh.from_array(np.ones((1, 1, latent), np.float32), "one")],
        ),
    }
    full_path = folder / f"{name}.onnx"
    for kind, (inputs, outputs, nodes, inits) in graphs.items():
        model = h.make_model(
            h.make_graph(nodes, f"fake_{kind}", inputs, outputs, inits),
            opset_imports=[h.make_opsetid("", 18)],
            ir_version=IR_VERSION,
        )
        text = _meta(kind, list(classes), num_frames, spec, latent, **{"parts": parts, **(meta_overrides or {})})
        h.set_model_props(model, {K.METADATA_KEY: text})
        onnx.save(model, str(full_path if kind == "full" else folder / parts[kind]))
    return full_path


class MjpegServer:
    """An HTTP camera on 127.0.0.1 whose behaviour can change while it runs; `mode` is one of

    mjpeg   multipart/x-mixed-replace JPEG frames, `frames` (BGR) looped at `fps`
    garbage a 200 with the MJPEG content type, then random bytes
    stall   the MJPEG answer, then nothing, on an open connection
    silent  accepts the connection and never answers
    An open connection follows `mode` as it changes. `stop()` closes the listener and every open
    connection (a dropped stream, as a client sees it); `start()` serves again on the same port.
    """

    def __init__(self, frames: list[np.ndarray] | None = None, fps: float = 30.0, mode: str = "mjpeg"):
        import cv2

        frames = frames or [np.full((24, 24, 3), 40 * i, np.uint8) for i in range(6)]
        self.jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        self.mode, self.period, self.port, self.sent = mode, 1.0 / fps, 0, 0
        self._server = None
        self._sent_cond = threading.Condition()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegServer:
        import http.server

        owner, stopped = self, threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def do_GET(self):
                if owner.mode == "silent":
                    stopped.wait(30)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                rng, i = np.random.default_rng(0), 0
                while not stopped.is_set():
                    if owner.mode == "mjpeg":
                        jpg = owner.jpegs[i % len(owner.jpegs)]
                        chunk = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                        chunk += jpg + b"\r\n"
                    elif owner.mode == "garbage":
                        chunk = rng.bytes(2048)
                    else:  # stall: the connection stays open and silent
                        stopped.wait(0.05)
                        continue
                    try:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    except OSError:
                        return
                    with owner._sent_cond:
                        owner.sent += 1
                        owner._sent_cond.notify_all()
                    i += 1
                    stopped.wait(owner.period)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server, self._stopped = server, stopped
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._stopped.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_sent(self, n: int, timeout_s: float = 60.0) -> None:
        """Until `n` frames in all were sent (a client is connected and reading). The bound only stops a
        broken test from hanging: a loaded machine is slow, never wrong."""
        with self._sent_cond:
            assert self._sent_cond.wait_for(lambda: self.sent >= n, timeout_s), f"sent {self.sent} of {n} frames"

    def outage(self, after_sent: int, down_s: float) -> threading.Event:
        """In a thread: once `after_sent` frames went out, stop, stay down `down_s`, start again.
        Returns an Event set when the server is back."""
        back = threading.Event()

        def run() -> None:
            self.wait_sent(after_sent)
            self.stop()
            time.sleep(down_s)  # the outage itself: how long the camera is away, not a wait for the client
            self.start()
            back.set()

        threading.Thread(target=run, daemon=True).start()
        return back


def closed_port_url() -> str:
    """An http:// URL on 127.0.0.1 where nothing listens: the connection is refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/stream.mjpg"


class ImageSource:
    """A file-like FrameSource over given images (every frame reaches the loop, none replaced)."""

    live = False

    def __init__(self, images, name="clip"):
        self.images, self.name, self.read = images, name, 0

    def frames(self):
        for i, img in enumerate(self.images):
            self.read += 1
            yield Frame(img, i / 10, i)

    def close(self):
        pass


def walking_square(n=16, h=120, w=180, box=(120, 30, 160, 70), seed=0, still=False):
    """Grey frames with sensor noise; a textured square walks across `box` (x0, y0, x1, y1)."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    side = 12
    frames = []
    for t in range(n):
        f = np.full((h, w, 3), 110, np.float32) + rng.normal(0, 3, (h, w, 3))
        if not still:
            px = x0 + (x1 - x0 - side) * t // max(1, n - 1)
            py = y0 + (y1 - y0 - side) * ((t * 3) % n) // max(1, n - 1)
            f[py : py + side, px : px + side] = [30, 200, 60]
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_avi(path: Path, frames, size: tuple[int, int] = (32, 24), fps: float = 10) -> Path:
    """An MJPG AVI of `frames` (a list or an (N, H, W, 3) array, BGR uint8, all one size); `size` (w, h)
    is used when there are none."""
    import cv2

    h, w = frames[0].shape[:2] if len(frames) else size[::-1]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        wr.write(f)
    wr.release()
    return path


def vc_run(*args):
    """vc-run in this process (typer's CliRunner); returns its Result (exit_code, stdout, stderr, output)."""
    from typer.testing import CliRunner

    from lrcn.runtime.vcrun.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def vc_run_timed(*args):
    """(vc_run's Result, seconds it took)."""
    t0 = time.perf_counter()
    result = vc_run(*args)
    return result, time.perf_counter() - t0


def error_lines(result) -> list[str]:
    """The `error: ...` lines of a CliRunner result's stderr."""
    return [x for x in result.stderr.splitlines() if x.startswith("error: ")]


@functools.cache
def cuda_works() -> bool:
    """True when onnxruntime lists CUDA and an NVIDIA GPU answers (the gpu tests' condition)."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers() or not shutil.which("nvidia-smi"):
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
"""Debian's chromium: playwright's own browser download is blocked on these machines."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def playwright_or_skip():
    """playwright's sync API, or a skip that says what is missing (chromium or playwright)."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).is_file():
        pytest.skip("chromium not installed (apt-get install -y chromium; .ci/run does it)")
    return sync_api


def launch_chromium(p):
    """Headless chromium from a started `sync_playwright()`."""
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
