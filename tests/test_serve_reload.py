"""Hot model reload in vc-serve: POST /model and SIGHUP swap the model while cameras stream.

The live test runs a real vc-serve process with 3 loopback MJPEG cameras and the fake ONNX
models of `helpers.fake_model` (same classes, other weights; other classes; a broken file; one
outside the allowed folder), and checks what a user sees: the streams never stop predicting,
/ready names the new model's sha256 within 2 s, refused swaps leave the old model serving.
"""

from __future__ import annotations

import hashlib
import json
import signal
import urllib.error
import urllib.request

import pytest
from helpers import MjpegServer, fake_model
from serve_fixtures import BLACK, Served, free_port, until

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_allowed_path_resolves_links_and_dots(tmp_path):
    from lrcn.serve.reload import SwapRefused, allowed_path

    models, outside = tmp_path / "models", tmp_path / "outside"
    models.mkdir(), outside.mkdir()
    (models / "m.onnx").write_bytes(b"x")
    (outside / "o.onnx").write_bytes(b"x")
    (models / "link.onnx").symlink_to(outside / "o.onnx")
    assert allowed_path(str(models / "m.onnx"), str(models), []) == str((models / "m.onnx").resolve())
    for bad in (outside / "o.onnx", models / "link.onnx", models / ".." / "outside" / "o.onnx"):
        with pytest.raises(SwapRefused) as e:
            allowed_path(str(bad), str(models), [])
        assert e.value.status == 403
    assert allowed_path(str(outside / "o.onnx"), None, [str(outside / "o.onnx")]).endswith("o.onnx")
    with pytest.raises(SwapRefused, match="swaps are off"):
        allowed_path(str(models / "m.onnx"), None, [])


def post(served: Served, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        served.url + "/model", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_swap_while_three_cameras_stream(tmp_path):
    models = tmp_path / "models"
    m1 = fake_model(models, name="m1", seed=0)
    m2 = fake_model(models, name="m2", seed=1)
    m3 = fake_model(models, name="m3", classes=("x", "y", "z"), seed=2)
    broken = models / "broken.onnx"
    broken.write_bytes(b"not an onnx model\n" * 10)
    outside = fake_model(tmp_path / "outside", name="o")
    cams = [MjpegServer([BLACK], fps=15).start() for _ in range(3)]
    port = free_port()
    conf = tmp_path / "serve.yaml"

    def write_conf(model):
        conf.write_text(
            f"model: {model}\nmodels_dir: models\ndevice: cpu\nthreads: 1\nhttp: {{port: {port}}}\nstreams:\n"
            + "".join(f"  - {{name: cam{i}, source: '{c.url()}', sample_fps: 0}}\n" for i, c in enumerate(cams))
        )

    write_conf("models/m1.onnx")
    served = Served([str(conf)], port)
    streams = lambda: {s["name"]: s for s in json.loads(served.get("/streams"))["streams"]}  # noqa: E731
    ready = lambda: json.loads(served.get("/ready"))  # noqa: E731
    try:
        served.wait_ready()
        until(lambda: all(s["state"] == "running" and s["predictions"] > 0 for s in streams().values()), 30, "running")
        assert ready()["model_sha256"] == sha(m1)

        def still_predicting(before: dict) -> None:  # every stream connected and counting on
            until(
                lambda: all(
                    s["state"] == "running" and s["predictions"] > before[n]["predictions"] + 3
                    for n, s in streams().items()
                ),
                20,
                "every stream predicting after the swap",
            )

        before = streams()
        status, body = post(served, {"path": str(m2)})
        assert status == 200, body
        until(lambda: ready()["model_sha256"] == sha(m2), 2.0, "the new model's hash in /ready", every=0.05)
        assert sorted(body["reset"]) == ["cam0", "cam1", "cam2"]
        still_predicting(before)
        assert {s["reconnects"] for s in streams().values()} == {0}  # sources untouched

        status, body = post(served, {"path": str(m3)})
        assert status == 409 and "other classes" in body["error"], body
        assert ready()["model_sha256"] == sha(m2)
        before = streams()
        status, body = post(served, {"path": str(m3), "force": True})
        assert status == 200 and body["forced"], body
        until(lambda: {s["label"] for s in streams().values()} <= {"x", "y", "z"}, 10, "the new labels")
        still_predicting(before)

        for bad in (outside, models / ".." / "outside" / "o.onnx"):
            status, body = post(served, {"path": str(bad)})
            assert status == 403 and "not an allowed model" in body["error"], body
        status, body = post(served, {"path": str(broken)})
        assert status == 422 and "old one serves on" in body["error"], body
        assert ready()["model_sha256"] == sha(m3)
        before = streams()
        still_predicting(before)

        m4 = fake_model(models, name="m4", classes=("x", "y", "z"), seed=3)  # m3's classes, other weights
        write_conf("models/m4.onnx")
        served.proc.send_signal(signal.SIGHUP)
        until(lambda: ready()["model_sha256"] == sha(m4), 20, "SIGHUP swapped to the config's model")
        metrics = served.get("/metrics").decode()
        assert f'sha256="{sha(m4)}"' in metrics and "lrcn_model_swaps_total 3.0" in metrics
        still_predicting(streams())
        rc, _ = served.stop()
        assert rc == 0
    finally:
        served.kill()
        for c in cams:
            c.stop()


def test_forced_swap_to_other_preprocessing_in_process(tmp_path, caplog):
    """Other image size and classes, forced: frames made for the old size are dropped, none reach
    the new model, the stream keeps predicting with the new labels and its counters go on."""
    from serve_fixtures import service

    models = tmp_path / "models"
    m1 = fake_model(models, name="m1")
    m2 = fake_model(models, name="m2", classes=("p", "q"), img_size=24)
    cam = MjpegServer([BLACK], fps=20).start()
    svc, _ = service(m1)
    caplog.set_level("INFO", logger="lrcn.serve")
    try:
        from lrcn.serve.config import StreamSettings
        from lrcn.serve.reload import SwapRefused

        svc.cfg.models_dir = str(models)
        svc.add_stream(StreamSettings(name="cam", source=cam.url(), sample_fps=0))
        entry = svc.manager.get("cam")
        until(lambda: entry.last is not None and entry.last.label in "abc", 20, "predictions from m1")
        with pytest.raises(SwapRefused) as e:
            svc.swap_model(str(m2))
        assert e.value.status == 409
        done = svc.manager.stats(entry).predictions
        out = svc.swap_model(str(m2), force=True)
        assert out["reset"] == ["cam"] and out["forced"]
        until(lambda: entry.last.label in ("p", "q"), 10, "predictions from m2")
        assert svc.manager.stats(entry).predictions > done
        assert svc.clf.meta.preprocess.img_size == 24 and entry.state == "running"
        assert not [r for r in caplog.records if r.levelname == "ERROR"]  # no old-size frame hit the new model
        assert [r.stream for r in caplog.records if getattr(r, "event", "") == "stream_state_reset"] == ["cam"]
    finally:
        svc.close()
        cam.stop()
