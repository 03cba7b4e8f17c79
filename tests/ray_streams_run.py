"""Run inside tests/ray_netns.py: N loopback MJPEG cameras, each a stream on the cluster; records to stdout.

    python tests/ray_streams_run.py ADDRESS MODEL VIDEO N SECONDS

Each record the head passes on is printed as one JSON line with `head_t` (seconds since start,
on the head's clock); the run ends after SECONDS and tears the actors and the cameras down.
"""

from __future__ import annotations

import sys
import time

from ray_records import Records

from lrcn.bench.mjpeg import Cameras
from lrcn.runtime.parallel import WorkerSpec
from lrcn.runtime.ray_cluster import cluster
from lrcn.serve.cluster import ClusterStreams


def main(address: str, model: str, video: str, n: int, seconds: float) -> int:
    cams = Cameras(n, 10.0, seconds + 60, video)
    out = Records()  # before joining the cluster, where sys.stdout is stderr (ray_cluster.cluster)

    try:
        with cluster(address) as ray:
            streams = ClusterStreams(ray, WorkerSpec(model, "cpu", 1, 3, 10.0, 1), out)
            try:
                for i, url in enumerate(cams.urls):
                    node = streams.add(f"cam{i}", url)
                    print(f"cam{i} on {node}", file=sys.stderr, flush=True)
                streams.start()
                time.sleep(seconds)
            finally:
                streams.close()
    finally:
        cams.close()
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(a[0], a[1], a[2], int(a[3]), float(a[4])))
