"""`vc-serve --ray`: live streams placed on Ray actors across a cluster's nodes, and moved when a node is lost.

`StreamWorker` is one actor's work: the model loaded once, the runtime's `MultiStream` over the
streams placed on it, its predictions kept in a bounded queue that the head drains with `poll`.
Each record carries an `id` scoped to the actor's run (`<run>-<n>`, the run a fresh uuid per
actor start), so ids stay unique across actors and restarts and a sink can drop a duplicate.

`Placement` is the head's bookkeeping, kept free of Ray so it can be tested alone: which stream
is on which worker, round-robin over the workers alive; when a worker is lost (its node died),
its streams go to the others and a `{"type": "stream", "phase": "restarted"}` record says their
LSTM state started afresh. The Ray calls themselves stay in the caller (one `ray.get` with a
timeout per poll), so this module imports Ray nowhere.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lrcn.runtime.parallel import WorkerSpec, _classifier
from lrcn.runtime.stream import StreamConfig, StreamPrediction

QUEUE_MAX = 4096
"""Records an actor keeps for the head; the oldest go first when the head does not poll."""


def record(run: str, n: int, pred: StreamPrediction) -> dict[str, Any]:
    """One prediction as the head receives it: the prediction record (`stream.prediction_record`, the one
    vc-run and the sinks use; no pixels) with the actor-scoped `id` and `n` in front, and the
    probabilities, so that the head's event detector sees what a local one would."""
    probs = [] if pred.probs is None else [round(float(p), 6) for p in pred.probs]
    return {"id": f"{run}-{n}", "n": n, **pred.to_dict(live=True), "index": pred.index, "probs": probs}


class StreamWorker:
    """One actor: a MultiStream over the streams placed here; `poll` hands their records to the head."""

    def __init__(self, spec: WorkerSpec, cfg: StreamConfig | None = None, queue_max: int = QUEUE_MAX):
        from lrcn.runtime.scheduler import MultiStream

        self.run = uuid.uuid4().hex[:12]
        self.multi = MultiStream(_classifier(spec), cfg=cfg or StreamConfig(realtime=True))
        self.handles: dict[str, Any] = {}
        self.queue: deque[dict[str, Any]] = deque(maxlen=queue_max)
        self.n = 0
        self.lock = threading.Lock()
        self.loop: threading.Thread | None = None

    def add(self, name: str, target: str, cfg: StreamConfig | None = None) -> str:
        """Open `target` (URL, file, camera) and run it as stream `name` (settings `cfg`, default the
        actor's); returns this actor's run id."""
        from lrcn.runtime.sources import open_source

        source = open_source(target, reconnect=5, timeout_s=10.0)
        self.handles[name] = self.multi.add(name, source, cfg)
        if self.loop is None:
            self.multi.start()
            self.loop = threading.Thread(target=self._infer, daemon=True)
            self.loop.start()
        return self.run

    def remove(self, name: str) -> bool:
        h = self.handles.pop(name, None)
        if h is not None:
            self.multi.remove(h)
        return h is not None

    def _infer(self) -> None:
        for pred in self.multi:
            if pred.label is None:
                continue
            with self.lock:
                self.queue.append(record(self.run, self.n, pred))
                self.n += 1

    def poll(self, after: int = -1, limit: int = 1024) -> list[dict[str, Any]]:
        """Up to `limit` records numbered above `after` (the last one the head got), oldest first.

        Records up to `after` are dropped here only now, so a reply lost on its way to the head is
        sent again on the next poll (the head's sink drops the repeats by id)."""
        with self.lock:
            while self.queue and self.queue[0]["n"] <= after:
                self.queue.popleft()
            return [self.queue[i] for i in range(min(limit, len(self.queue)))]

    def stats(self) -> dict[str, dict[str, Any]]:
        """Each stream's counters (`StreamStats` as a dict) and source state, for the head's API and metrics."""
        out = {}
        for name, h in list(self.handles.items()):
            out[name] = dict(
                dataclasses.asdict(h.stats()),
                live=h.live,
                reconnecting=h.reconnecting,
                done=h.done,
                error=None if h.error is None else str(h.error),
            )
        return out

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()


@dataclass
class Placement:
    """Which stream runs on which worker; workers are keys the caller maps to actors."""

    targets: dict[str, str] = field(default_factory=dict)
    """stream name -> source to open"""
    where: dict[str, str] = field(default_factory=dict)
    """stream name -> worker key"""
    workers: list[str] = field(default_factory=list)
    """workers alive, in placement order"""
    turn: int = 0

    def place(self, name: str, target: str) -> str:
        """The worker `name` goes to (round-robin over the workers alive)."""
        if not self.workers:
            raise RuntimeError(f"stream {name}: no worker alive to run it")
        key = self.workers[self.turn % len(self.workers)]
        self.turn += 1
        self.targets[name], self.where[name] = target, key
        return key

    def lost(self, key: str, reason: str, start: Callable[[str, str, str], None]) -> list[dict[str, Any]]:
        """Worker `key` is gone: its streams are placed again and `start(worker, name, target)` called
        for each; returns one `restarted` record per stream moved (its LSTM state starts afresh)."""
        if key in self.workers:
            self.workers.remove(key)
        moved = []
        for name in [n for n, k in self.where.items() if k == key]:
            new = self.place(name, self.targets[name])
            start(new, name, self.targets[name])
            moved.append(
                {
                    "id": f"restart-{uuid.uuid4().hex[:12]}",
                    "type": "stream",
                    "phase": "restarted",
                    "stream": name,
                    "reason": f"worker {key} lost ({reason}); now on {new}, its LSTM state starts afresh",
                }
            )
        return moved
