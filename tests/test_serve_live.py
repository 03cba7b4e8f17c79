"""vc-serve end to end, loopback only: the acceptance run with 3 MJPEG cameras (dashboard in headless
Chromium, /metrics, /streams, SIGTERM), and a camera that dies and comes back.

The model is the deterministic fake ONNX model (helpers.fake_model): black frames are
class "c", bright green ones class "a", so a camera switched from one to the other changes its
tile's label.
"""

from __future__ import annotations

import json
import logging

import pytest
from helpers import MjpegServer, fake_model, launch_chromium, playwright_or_skip
from serve_fixtures import BLACK, GREEN, Served, free_port, service, until

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return fake_model(tmp_path_factory.mktemp("serve_live_model"))


def tiles(page) -> list[dict]:
    return page.evaluate("""Array.from(document.querySelectorAll('.tile')).map(t => ({
        name: t.dataset.stream, label: t.querySelector('.label').textContent,
        state: t.querySelector('.state').textContent, img: t.querySelector('img').naturalWidth}))""")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_acceptance_three_cameras_dashboard_metrics_sigterm(fake, tmp_path):
    sync_api = playwright_or_skip()
    from prometheus_client.parser import text_string_to_metric_families

    cams = [MjpegServer([BLACK], fps=15).start() for _ in range(3)]
    port = free_port()
    demo = tmp_path / "demo.yaml"
    demo.write_text(
        f"model: {fake}\ndevice: cpu\nthreads: 1\nhttp: {{port: {port}}}\nstreams:\n"
        + "".join(f"  - {{name: cam{i}, source: '{c.url()}', sample_fps: 0}}\n" for i, c in enumerate(cams))
    )
    served = Served([str(demo), "--log-json"], port)
    try:
        served.wait_ready()
        states = lambda: {s["name"]: s["state"] for s in json.loads(served.get("/streams"))["streams"]}  # noqa: E731
        until(lambda: states() == {f"cam{i}": "running" for i in range(3)}, 30, "all three running")
        with sync_api.sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page()
            outside = []

            def guard(route):
                if route.request.url.startswith(served.url):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", guard)
            page.goto(served.url + "/", wait_until="load")
            seen = until(
                lambda: (
                    len(t := tiles(page)) == 3 and all(x["img"] > 0 and x["label"].startswith("c ") for x in t) and t
                ),
                30,
                "3 live tiles",
            )
            assert sorted(x["name"] for x in seen) == ["cam0", "cam1", "cam2"]
            cams[1].jpegs = MjpegServer([GREEN]).jpegs  # camera 1 now shows class "a"
            until(
                lambda: {x["name"]: x["label"][:2] for x in tiles(page)} == {"cam0": "c ", "cam1": "a ", "cam2": "c "},
                30,
                "cam1's tile label changes to a",
            )
            assert outside == []
            browser.close()
        families = {f.name: f for f in text_string_to_metric_families(served.get("/metrics").decode())}
        processed = {s.labels["stream"]: s.value for s in families["lrcn_frames_processed"].samples}
        assert set(processed) == {"cam0", "cam1", "cam2"} and min(processed.values()) > 0
        rc, seconds = served.stop()
        print(f"\nSIGTERM: exit {rc} after {seconds:.2f} s")
        assert rc == 0 and seconds < 5.0, (rc, seconds)
        log = [json.loads(line) for line in served.proc.stderr.read().splitlines()]  # --log-json: all JSON
        assert sorted(r["stream"] for r in log if r.get("event") == "stream_running") == ["cam0", "cam1", "cam2"]
        assert log[-1]["event"] == "stopped"
    finally:
        served.kill()
        for c in cams:
            c.stop()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_camera_that_dies_and_returns_reconnects_while_the_others_go_on(fake, caplog):
    from fastapi.testclient import TestClient

    cams = [MjpegServer([BLACK], fps=15).start() for _ in range(2)]
    svc, app = service(fake)
    caplog.set_level(logging.INFO, logger="lrcn.serve")
    try:
        with TestClient(app) as c:
            for i, cam in enumerate(cams):
                c.post("/streams", json={"name": f"cam{i}", "source": cam.url(), "sample_fps": 0})
            info = lambda name: c.get(f"/streams/{name}").json()  # noqa: E731
            until(lambda: info("cam0")["state"] == info("cam1")["state"] == "running", 30, "both running")
            cams[1].stop()
            until(lambda: info("cam1")["state"] == "reconnecting", 20, "cam1 reconnecting")
            steady = info("cam0")["frames_processed"]
            until(lambda: info("cam0")["frames_processed"] >= steady + 15, 20, "cam0 goes on while cam1 is down")
            assert info("cam0")["state"] == "running"
            cams[1].start()
            until(
                lambda: info("cam1")["state"] == "running" and info("cam1")["reconnects"] >= 1, 40, "cam1 running again"
            )
        text = caplog.text
        assert "stream cam1: down, reconnecting" in text and "stream cam1: up again" in text
        assert "stream cam0: down" not in text
    finally:
        svc.close(3.0)
        for cam in cams:
            cam.stop()
