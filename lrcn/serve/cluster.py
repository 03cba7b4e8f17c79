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
import uuid
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
    stats_every: int = 5
    """Rounds between two fetches of the streams' counters (5 x 0.2 s: once a second)."""


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
        self.cfgs: dict[str, StreamConfig | None] = {}
        """stream name -> its own settings (sample_fps, smoothing, ...), given again when it moves"""
        self.stream_stats: dict[str, dict[str, Any]] = {}
        self.rounds = 0
        self.seen: set[str] = set()
        self.seen_order: deque[str] = deque()
        self.lock = threading.RLock()  # on_record may ask node_of
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

    def add(self, name: str, target: str, stream_cfg: StreamConfig | None = None) -> str:
        """Place stream `name` on a worker and start it there (settings `stream_cfg`, default the
        workers'); returns the worker's node id. Opening the source happens outside the lock, so the
        other streams' records keep flowing meanwhile; a failure takes the stream off the placement."""
        with self.lock:
            if name in self.placement.where:
                raise ValueError(f"stream {name!r} is placed already")
            key = self.placement.place(name, target)
            self.cfgs[name] = stream_cfg
            actor = self.actors[key]
        try:
            self.ray.get(actor.add.remote(name, target, stream_cfg), timeout=self.cfg.add_timeout_s)
        except BaseException:
            with self.lock:
                if self.placement.where.get(name) == key:
                    self._forget(name)
            raise
        return key

    def remove(self, name: str) -> bool:
        """Stop stream `name` on its worker (bounded; a worker that does not answer is left to the poll)."""
        with self.lock:
            key = self.placement.where.get(name)
            self._forget(name)
            actor = self.actors.get(key) if key is not None else None
        if actor is not None:
            try:
                self.ray.get(actor.remove.remote(name), timeout=self.cfg.call_timeout_s)
            except Exception as e:  # noqa: BLE001 (its records are ignored by the caller from now on)
                log.warning("cluster: removing %s on node %s: %s", name, str(key)[:12], type(e).__name__)
        return key is not None

    def _forget(self, name: str) -> None:
        self.placement.where.pop(name, None)
        self.placement.targets.pop(name, None)
        self.cfgs.pop(name, None)
        self.stream_stats.pop(name, None)

    def node_of(self, name: str) -> str | None:
        """Without the lock (one dict read): the API must answer while a failover holds it."""
        return self.placement.where.get(name)

    def stats_of(self, name: str) -> dict[str, Any] | None:
        """The stream's counters and source state as its worker last reported them (about once a second)."""
        return self.stream_stats.get(name)

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
        """One round: every actor's new records to `on_record`; an actor that fails is replaced.
        Every `stats_every` rounds the streams' counters are fetched too (a failure there is let be:
        the poll is what declares a worker lost)."""
        with self.lock:
            self.rounds += 1
            refs = {k: a.poll.remote(self.acked[k]) for k, a in self.actors.items()}
            due = self.rounds % self.cfg.stats_every == 0
            stats = {k: a.stats.remote() for k, a in self.actors.items()} if due else {}
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
            for key, ref in stats.items():
                if key not in self.actors:
                    continue
                try:
                    got = self.ray.get(ref, timeout=self.cfg.call_timeout_s)
                except Exception:  # noqa: BLE001
                    continue
                self.stream_stats.update({n: st for n, st in got.items() if self.placement.where.get(n) == key})

    def _lost(self, key: str, reason: str) -> None:
        actor = self.actors.pop(key)
        self.acked.pop(key, None)
        try:
            self.ray.kill(actor, no_restart=True)  # one that was only slow must not run its streams twice
        except Exception:  # noqa: BLE001
            pass
        log.warning("cluster: worker on node %s lost (%s); moving its streams", key[:12], reason)
        pending: dict[str, Any] = {}

        def start(new: str, name: str, target: str) -> None:  # all moved streams open at once, waited for below
            pending[name] = self.actors[new].add.remote(name, target, self.cfgs.get(name))

        if any(w != key for w in self.placement.workers):
            moved = self.placement.lost(key, reason, start)
        else:  # the last worker: its streams are named failed below
            self.placement.workers = []
            moved = []
        failed: dict[str, str] = {}
        for name, ref in pending.items():
            try:
                self.ray.get(ref, timeout=self.cfg.add_timeout_s)
            except Exception as e:  # noqa: BLE001 (one stream that cannot open elsewhere never stops the others)
                failed[name] = f"{type(e).__name__}: {str(e).strip().splitlines()[-1][:300] if str(e).strip() else ''}"
        for name in [n for n, k in self.placement.where.items() if k == key]:  # no worker left to take them
            failed[name] = "no worker alive to run it"
        for rec in moved:
            name = rec["stream"]
            if name in failed:
                rec = dict(rec, phase="failed", reason=f"worker {key} lost ({reason}); not restarted: {failed[name]}")
                self._forget(name)
            self._emit(rec)
        for name in [n for n in failed if n not in {r["stream"] for r in moved}]:
            self._forget(name)
            self._emit(
                {"id": f"fail-{uuid.uuid4().hex[:12]}", "type": "stream", "phase": "failed", "stream": name,
                 "reason": f"worker {key} lost ({reason}); not restarted: {failed[name]}"}
            )  # fmt: skip
        self.stream_stats = {n: st for n, st in self.stream_stats.items() if self.placement.where.get(n) != key}

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
