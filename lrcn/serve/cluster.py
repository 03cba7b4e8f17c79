"""`vc-serve --ray ADDRESS`, the head's side: one stream actor per alive node, streams spread over them.

`ClusterStreams` starts a `runtime.ray_streams.StreamWorker` pinned to each node alive (a node
dying takes its actor with it; nothing is restarted in place), places each stream round-robin,
and polls every actor a few times a second (each call bounded by `call_timeout_s`). An actor
that fails a call (dead, unreachable, or its node declared dead) is killed and its streams are
added on the others, with a `restarted` record per stream handed to `on_record` like the
predictions; the caller routes them to its sinks. Records carry actor-scoped ids, and the head
drops any it has seen, so a sink gets each once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lrcn.runtime.parallel import WorkerSpec
from lrcn.runtime.ray_streams import Placement, StreamWorker
from lrcn.runtime.stream import StreamConfig

log = logging.getLogger("lrcn.serve")

SEEN_MAX = 65536
"""Ids the head remembers to drop a repeat."""


@dataclass(frozen=True)
class ClusterConfig:
    poll_s: float = 0.2
    call_timeout_s: float = 3.0
    add_timeout_s: float = 30.0


class ClusterStreams:
    """Streams on the cluster `ray` is connected to; `on_record(dict)` gets predictions and stream records."""

    def __init__(
        self,
        ray: Any,
        spec: WorkerSpec,
        on_record: Callable[[dict[str, Any]], None],
        stream_cfg: StreamConfig | None = None,
        cfg: ClusterConfig | None = None,
    ):
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.ray, self.on_record, self.cfg = ray, on_record, cfg or ClusterConfig()
        self.placement = Placement()
        self.actors: dict[str, Any] = {}
        self.acked: dict[str, int] = {}
        self.seen: set[str] = set()
        self.seen_order: deque[str] = deque()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        remote = ray.remote(StreamWorker)
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            key = node["NodeID"]
            strategy = NodeAffinitySchedulingStrategy(node_id=key, soft=False)
            self.actors[key] = remote.options(num_cpus=0, max_restarts=0, scheduling_strategy=strategy).remote(
                spec, stream_cfg or StreamConfig(realtime=True)
            )
            self.acked[key] = -1
            self.placement.workers.append(key)
        self.thread = threading.Thread(target=self._poll_loop, name="cluster-poll", daemon=True)

    def add(self, name: str, target: str) -> str:
        """Place stream `name` on a worker and start it there; returns the worker's node id."""
        with self.lock:
            key = self.placement.place(name, target)
            self._start(key, name, target)
        return key

    def _start(self, key: str, name: str, target: str) -> None:
        self.ray.get(self.actors[key].add.remote(name, target), timeout=self.cfg.add_timeout_s)

    def start(self) -> None:
        self.thread.start()

    def _emit(self, rec: dict[str, Any]) -> None:
        if rec["id"] in self.seen:
            return
        self.seen.add(rec["id"])
        self.seen_order.append(rec["id"])
        if len(self.seen_order) > SEEN_MAX:
            self.seen.discard(self.seen_order.popleft())
        self.on_record(rec)

    def poll_once(self) -> None:
        """One round: every actor's new records to `on_record`; an actor that fails is replaced."""
        with self.lock:
            refs = {k: a.poll.remote(self.acked[k]) for k, a in self.actors.items()}
            for key, ref in refs.items():
                try:
                    batch = self.ray.get(ref, timeout=self.cfg.call_timeout_s)
                except Exception as e:  # noqa: BLE001 (any failure of the call: the actor is given up)
                    self._lost(key, f"{type(e).__name__}")
                    continue
                for rec in batch:
                    self._emit(rec)
                if batch:
                    self.acked[key] = batch[-1]["n"]

    def _lost(self, key: str, reason: str) -> None:
        actor = self.actors.pop(key)
        self.acked.pop(key, None)
        try:
            self.ray.kill(actor, no_restart=True)  # one that was only slow must not run its streams twice
        except Exception:  # noqa: BLE001
            pass
        log.warning("cluster: worker on node %s lost (%s); moving its streams", key[:12], reason)
        for rec in self.placement.lost(key, reason, self._start):
            self._emit(rec)

    def _poll_loop(self) -> None:
        while not self.stop_event.wait(self.cfg.poll_s):
            try:
                self.poll_once()
            except Exception as e:  # noqa: BLE001 (one bad round never ends the service)
                log.warning("cluster: poll failed: %s", e)

    def close(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        for actor in self.actors.values():
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
