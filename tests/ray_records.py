"""For the Ray helper scripts (tests/ray_*_run.py): records printed as JSON lines with `head_t`.

Made before joining the cluster: `ray_cluster.cluster` then sends sys.stdout to stderr, and the
tests read the records from the stdout taken here."""

from __future__ import annotations

import json
import sys
import threading
import time


class Records:
    """`records(rec)` prints rec with head_t (seconds since this was made, on the head's clock), one line, thread-safe."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.stdout = sys.stdout
        self.lock = threading.Lock()

    def __call__(self, rec: dict) -> None:
        with self.lock:
            print(json.dumps(dict(rec, head_t=round(time.monotonic() - self.t0, 3))), file=self.stdout, flush=True)
