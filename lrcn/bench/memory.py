"""e. Memory: peak resident memory of a runtime process (no torch) and of a PyTorch process
classifying the same video with the same model, each in a fresh subprocess.

The child reads its own peak (VmHWM in /proc/self/status, else getrusage's ru_maxrss) after
decoding the video, preprocessing the clip and classifying it once. Its stdout's last line is
a JSON object. Run as `python -m lrcn.bench.memory runtime|torch ...` (what `measure` does);
this module imports only the standard library at the top so the runtime child stays torch-free.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def status_mb(field: str) -> float | None:
    """One memory line of /proc/self/status (VmHWM: peak, VmRSS: now) in MB; None without /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    peak = status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _runtime_child(model: str, video: str, device: str, threads: int) -> dict:
    sys.modules["torch"] = None  # any `import torch` now fails: the figure is torch-free
    from lrcn.runtime import VideoClassifier

    clf = VideoClassifier(model, device=device, threads=threads)
    p = clf.predict(video)
    return {"label": p.label, "torch_loaded": False}


def _torch_child(folder: str, video: str, device: str, threads: int) -> dict:
    import torch

    from lrcn.models import ModelConfig, build_model
    from lrcn.runtime.preprocess import PreprocessSpec, prepare_clip
    from lrcn.runtime.video import read_clip

    torch.set_num_threads(threads)
    config = json.loads((Path(folder) / "config.json").read_text())
    model = build_model(ModelConfig.from_dict(config["model"]), load_weights=False)
    model.load_state_dict(torch.load(Path(folder) / "weights.pt", map_location="cpu", weights_only=True))
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    model = model.eval().to(dev)
    pre = config["preprocess"]
    spec = PreprocessSpec.from_dict(pre)
    clip = read_clip(video, int(pre["num_frames"]) + spec.extra_frames, spec.img_size, region=spec.region)
    x = torch.from_numpy(prepare_clip(clip.frames, spec))[None].to(dev)
    with torch.inference_mode():
        k = int(torch.softmax(model(x), -1).argmax())
    return {"label": config["class_names"][k], "torch_loaded": True}


def _child(kind: str, target: str, video: str, device: str, threads: int) -> dict:
    run = _runtime_child if kind == "runtime" else _torch_child
    return {**run(target, video, device, threads), "peak_rss_mb": round(peak_rss_mb(), 1)}


def _spawn(args: list[str], timeout: float) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "lrcn.bench.memory", *args], capture_output=True, text=True, timeout=timeout
    )
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory probe ({args[0]}) failed: {tail}")
    return json.loads(lines[-1])


def measure(subject, cfg, video: Path, log=print) -> dict:
    log("  memory: a runtime process and a PyTorch process, one clip each")
    common = [str(video), cfg.device, str(cfg.threads)]
    rt = _spawn(["runtime", str(subject.files["full"]), *common], timeout=600)
    pt = _spawn(["torch", str(subject.files["full"].parent), *common], timeout=600)
    return {
        "video": video.name,
        "runtime_mb": rt["peak_rss_mb"],
        "torch_mb": pt["peak_rss_mb"],
        "ratio": round(pt["peak_rss_mb"] / rt["peak_rss_mb"], 2),
        "how": "peak RSS (VmHWM) of a fresh subprocess after one clip-mode classification; the runtime "
        "child runs with torch blocked from import",
    }


if __name__ == "__main__":
    kind, target, video, device, threads = sys.argv[1:6]
    print(json.dumps(_child(kind, target, video, device, int(threads))))
