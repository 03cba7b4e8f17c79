"""Event media in vc-serve: with `media` set, event records name a clip and a snapshot, served by
GET /events/{id}/clip (MP4, Range) and /events/{id}/snapshot.jpg; other ids are 404."""

from __future__ import annotations

import pytest
from helpers import MjpegServer, fake_model
from serve_fixtures import BLACK, GREEN, until

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_an_event_clip_and_snapshot_are_served(tmp_path):
    av = pytest.importorskip("av")
    from fastapi.testclient import TestClient

    from lrcn.serve.api import create_app
    from lrcn.serve.config import EventSettings, MediaSettings, ServeConfig, StreamSettings
    from lrcn.serve.service import Service

    cam = MjpegServer([BLACK], fps=15).start()
    cfg = ServeConfig(
        model=str(fake_model(tmp_path / "model")),
        device="cpu",
        threads=1,
        events=EventSettings(threshold=0.5, min_event=0.5, merge_gap=0.5),
        streams=[StreamSettings(name="door", source=cam.url(), sample_fps=0)],
        media=MediaSettings(folder=str(tmp_path / "media"), pre_s=0.5, post_s=0.3),
    )
    svc = Service(cfg).start()
    try:
        with TestClient(create_app(svc), base_url="http://127.0.0.1") as c:

            def ended():
                return [e for e in c.get("/events").json()["events"] if e["phase"] == "end"]

            until(lambda: any(e["phase"] == "start" for e in c.get("/events").json()["events"]), 30, "an event")
            cam.jpegs = MjpegServer([GREEN]).jpegs
            until(lambda: ended(), 30, "the first event ends")
            ev = ended()[-1]
            assert ev["clip"] == f"{ev['id']}.mp4" and ev["snapshot"] == f"{ev['id']}.jpg"
            until(lambda: c.get(f"/events/{ev['id']}/clip").status_code == 200, 20, "its clip is written")
            r = c.get(f"/events/{ev['id']}/clip")
            assert r.headers["content-type"] == "video/mp4"
            clip = tmp_path / "got.mp4"
            clip.write_bytes(r.content)
            with av.open(str(clip)) as f:
                assert f.streams.video[0].codec_context.name == "h264"
                assert sum(1 for _ in f.decode(video=0)) >= 3
            part = c.get(f"/events/{ev['id']}/clip", headers={"Range": "bytes=0-99"})
            assert part.status_code == 206 and len(part.content) == 100
            snap = c.get(f"/events/{ev['id']}/snapshot.jpg")
            assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
            for bad in ("..%2Fmodel", "no-such-event", "a.b", "x" * 65):
                assert c.get(f"/events/{bad}/clip").status_code == 404
                assert c.get(f"/events/{bad}/snapshot.jpg").status_code == 404
    finally:
        svc.close(3.0)
        cam.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_dashboard_shows_an_event_thumbnail_in_headless_chromium(tmp_path):
    """vc-serve from a YAML config with `media`: after an event ends, the dashboard's events table has its
    snapshot as an <img> that loaded (naturalWidth > 0) and a link to its clip."""
    pytest.importorskip("av")
    from helpers import launch_chromium, playwright_or_skip
    from serve_fixtures import Served, free_port

    sync_api = playwright_or_skip()
    cam = MjpegServer([BLACK], fps=15).start()
    port = free_port()
    demo = tmp_path / "demo.yaml"
    demo.write_text(
        f"model: {fake_model(tmp_path / 'model')}\ndevice: cpu\nthreads: 1\nhttp: {{port: {port}}}\n"
        "events: {threshold: 0.5, min_event: 0.5, merge_gap: 0.5}\n"
        f"media: {{folder: '{tmp_path / 'media'}', pre_s: 0.5, post_s: 0.3}}\n"
        f"streams:\n  - {{name: door, source: '{cam.url()}', sample_fps: 0}}\n"
    )
    served = Served([str(demo)], port)
    try:
        served.wait_ready()
        until(lambda: b'"start"' in served.get("/events"), 30, "an event starts")
        cam.jpegs = MjpegServer([GREEN]).jpegs
        with sync_api.sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page()
            page.goto(served.url + "/", wait_until="load")
            thumbs = """Array.from(document.querySelectorAll('#events img.thumb'))
                .map(i => ({w: i.naturalWidth, done: i.complete, href: i.closest('a') && i.closest('a').href}))"""
            seen = until(lambda: [t for t in page.evaluate(thumbs) if t["done"] and t["w"] > 0], 40, "a thumbnail")
            browser.close()
        assert seen[0]["href"] and "/clip" in seen[0]["href"]
        path = seen[0]["href"].split(served.url, 1)[1]
        data = served.get(path)
        assert data[4:8] == b"ftyp"  # an MP4 (its decoding is checked in the test above)
    finally:
        served.stop()
        cam.stop()
