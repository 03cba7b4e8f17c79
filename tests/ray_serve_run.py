"""Run inside tests/ray_netns.py: vc-serve's service and API joined to the cluster, N loopback MJPEG cameras.

    python tests/ray_serve_run.py ADDRESS MODEL VIDEO N SECONDS SINK

The service is built from a ServeConfig as `vc-serve --ray ADDRESS` builds it (a jsonl sink at SINK)
and read through its HTTP API (FastAPI's TestClient, in this process). Printed, one JSON object a
line, each with `head_t` (seconds since start on the head's clock): every prediction that reaches
the head's listeners (`type` prediction), GET /streams once a second (`type` streams), and after
SECONDS and the service's close, the head's event history (`type` history).
"""

from __future__ import annotations

import sys
import time

from fastapi.testclient import TestClient
from ray_records import Records

from lrcn.bench.mjpeg import Cameras
from lrcn.serve.api import create_app
from lrcn.serve.config import EventSettings, HttpSettings, ServeConfig, StreamSettings, check
from lrcn.serve.service import Service


def main(address: str, model: str, video: str, n: int, seconds: float, sink: str) -> int:
    cams = Cameras(n, 10.0, seconds + 60, video)
    out = Records()  # before joining the cluster, where sys.stdout is stderr (ray_cluster.cluster)

    cfg = ServeConfig(
        model=model,
        device="cpu",
        threads=1,
        ray=address,
        sinks=[f"jsonl:{sink}"],
        events=EventSettings(threshold=0.34, min_event=0.5, merge_gap=0.5),  # events come often on noise
        http=HttpSettings(allowed_hosts=["testserver"]),
        streams=[StreamSettings(name=f"cam{i}", source=url, sample_fps=5) for i, url in enumerate(cams.urls)],
    )
    svc, closed = Service(check(cfg)), False
    try:
        svc.start()
        svc.manager.listeners.append(lambda e, p: out({"type": "prediction", "stream": p.stream, "t": p.t}))
        client = TestClient(create_app(svc))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r = client.get("/streams")
            out({"type": "streams", "status": r.status_code, "streams": r.json().get("streams")})
            time.sleep(1.0)
        svc.close(5.0)
        closed = True
        out({"type": "history", "events": svc.manager.events.newest(cfg.history)})
    finally:
        if not closed:
            svc.close(5.0)
        cams.close()
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(a[0], a[1], a[2], int(a[3]), float(a[4]), a[5]))
