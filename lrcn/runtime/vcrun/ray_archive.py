"""`vc-run FILES --ray ADDRESS`: clip mode over many files on a Ray cluster, the output a local run's.

The driver lists the files (run_clips, as a local run does), then a pool of Ray actors, one per
CPU of the cluster unless --workers says otherwise, decodes and classifies them: each actor
loads the model once (parallel.WorkerSpec, the same code as `--workers`), on the device the
node has (`--device auto`: CUDA where it works, else the CPU, decided on each node). Each actor
works in the driver's folder, so relative names and error messages equal a local run's. Rows
come back in input order through the same table, JSON lines, CSV and progress bar.

Plain actors rather than Ray Data's `map_batches` with an actor pool: the work is one file per
call and the driver must know which file a lost worker held, to retry it on another worker or
name it in one line. Ray Data returns batches of rows without that, and brings a streaming
executor and its own progress bars that a few hundred files do not need.

A worker whose process dies is restarted by Ray (`restarts` times, elsewhere when its node is
gone and a CPU is free) and the files it held are retried; a file whose worker is lost under it
(dead, unreachable, or on a node the cluster declared dead) goes back to the queue for whichever
worker is free first, up to `restarts` times, then is named as failed. Requires the model and the files at the same paths
on every node (one machine, or a shared filesystem) and lrcn installed on every node.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from lrcn.core.errors import LrcnError
from lrcn.core.text import printable
from lrcn.runtime.classifier import error_row
from lrcn.runtime.console import err_console
from lrcn.runtime.parallel import WorkerSpec, _classifier, _classify
from lrcn.runtime.ray_cluster import cluster


@dataclass(frozen=True)
class PoolConfig:
    workers: int | None = None
    """Actors in the pool (one CPU each); None: one per CPU the cluster has."""
    restarts: int = 3
    """Times Ray restarts a worker whose process died, retrying the file it held each time."""
    in_flight: int = 2
    """Files queued on each worker, so none waits on the driver between two files."""
    start_timeout_s: float = 120.0
    """Seconds the workers may take to start and load the model; those not up by then are dropped."""

    def __post_init__(self):
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.restarts < 0 or self.in_flight < 1 or not self.start_timeout_s > 0:
            raise ValueError("restarts must be >= 0, in_flight >= 1 and start_timeout_s > 0")


class ClipWorker:
    """One Ray actor: the model loaded once, one file classified per call (an error row when it fails)."""

    def __init__(self, spec: WorkerSpec, cwd: str):
        import cv2

        cv2.setNumThreads(spec.threads)
        try:
            os.chdir(cwd)  # the driver's folder: relative names resolve (and read) as in a local run
        except OSError:
            pass  # not on this node: each relative name then fails as its own error row
        self.spec = spec
        self.error: str | None = None
        try:
            _classifier(spec)
        except LrcnError as e:
            self.error = str(e)

    def info(self) -> dict:
        import ray

        clf = None if self.error else _classifier(self.spec)
        return {
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "providers": clf.providers if clf else [],
            "note": clf.device_note if clf else None,
            "error": self.error,
        }

    def classify(self, path: str) -> dict:
        return _classify(self.spec, path)


def start_pool(ray: Any, spec: WorkerSpec, cfg: PoolConfig) -> dict:
    """The actors, each up with the model loaded -> the id of the node each runs on; one line says
    where they run. Raises LrcnError when none could load the model (the loader's own message,
    as a local run says it)."""
    n = cfg.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    remote = ray.remote(ClipWorker).options(num_cpus=1, max_restarts=cfg.restarts, max_task_retries=cfg.restarts)
    actors = [remote.remote(spec, os.getcwd()) for _ in range(n)]
    refs = {a.info.remote(): a for a in actors}
    ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=cfg.start_timeout_s)
    for ref in late:  # no free CPU for it, or a node that never answered: the others do the work
        ray.kill(refs[ref])
    infos = {refs[r]: ray.get(r) for r in ready}
    up = [a for a, info in infos.items() if not info["error"]]
    if not up:
        for a in actors:
            ray.kill(a)
        errors = [info["error"] for info in infos.values()]
        raise LrcnError(errors[0] if errors else f"no Ray worker started within {cfg.start_timeout_s:.0f} s")
    nodes = {infos[a]["node"] for a in up}
    providers = sorted({p for a in up for p in infos[a]["providers"][:1]})
    err_console.print(
        f"ray: {len(up)} workers on {len(nodes)} node{'s' * (len(nodes) > 1)}, providers {', '.join(providers)}"
        + (f" ({len(actors) - len(up)} did not start)" if len(up) < len(actors) else ""),
        highlight=False,
        markup=False,
    )
    for note in sorted({infos[a]["note"] for a in up if infos[a]["note"]}):
        err_console.print(f"note {printable(note)}", highlight=False, markup=False)
    return {a: infos[a]["node"] for a in up}


def classify_on_pool(ray: Any, actors: dict, files: list[str], cfg: PoolConfig) -> Generator[dict, None, None]:
    """One row per file (prediction or error), in the order of `files`, whatever order they finish in.

    `actors`: start_pool's {actor: node id}. An actor whose node leaves the cluster is ended for
    good (with every CPU held by a worker, Ray's restart would wait for a free one forever), so
    its files go to the other workers.
    """
    todo = deque(range(len(files)))
    usable = set(actors)  # the workers given files
    running: dict[Any, tuple[int, Any]] = {}  # ObjectRef -> (file index, actor)
    probes: dict[Any, Any] = {}  # ObjectRef of info() -> an actor set aside until it answers again
    lost: dict[int, int] = {}  # file index -> times its worker was lost under it
    done: dict[int, dict] = {}
    nxt = 0
    watch = _NodeWatch(ray)
    try:
        while nxt < len(files):
            for a in watch.lost(actors):
                ray.kill(a, no_restart=True)  # what it holds fails as ActorDiedError, retried below
                err_console.print(
                    f"ray: node {actors[a][:8]} left the cluster; its worker's files go to the others",
                    highlight=False,
                    markup=False,
                )
            held = Counter(a for _, a in running.values())
            for a in usable:
                for _ in range(cfg.in_flight - held[a]):
                    if todo:
                        i = todo.popleft()
                        running[a.classify.remote(files[i])] = (i, a)
            if not running and not probes:  # every worker is gone
                while todo:
                    i = todo.popleft()
                    done[i] = error_row(files[i], "no Ray worker is left to classify it")
            waiting = [*running, *probes]
            for ref in ray.wait(waiting, num_returns=1, timeout=1.0)[0] if waiting else []:
                if ref in probes:
                    a = probes.pop(ref)
                    try:
                        ray.get(ref)
                        usable.add(a)  # back (Ray restarted it)
                    except ray.exceptions.ActorDiedError:
                        pass
                    except ray.exceptions.RayActorError:
                        probes[a.info.remote()] = a
                    continue
                i, a = running.pop(ref)
                try:
                    done[i] = ray.get(ref)
                except ray.exceptions.RayActorError as e:  # its worker died, or its node went away
                    if a in usable:  # no more files until it answers (or never, once dead for good)
                        usable.discard(a)
                        if not isinstance(e, ray.exceptions.ActorDiedError):
                            probes[a.info.remote()] = a
                    lost[i] = lost.get(i, 0) + 1
                    if lost[i] > cfg.restarts:
                        done[i] = error_row(files[i], f"the Ray worker classifying it was lost: {_first_line(e)}")
                    else:
                        todo.appendleft(i)  # again, on whichever worker is free first (reading is harmless twice)
                except ray.exceptions.RayError as e:  # a bug in a worker: this file fails, the run goes on
                    done[i] = error_row(files[i], f"failed on a Ray worker: {_first_line(e)}")
            while nxt in done:
                yield done.pop(nxt)
                nxt += 1
    finally:  # the end, Ctrl-C or an early stop: queued files are dropped with their workers
        for a in actors:
            ray.kill(a)


class _NodeWatch:
    """Which actors sit on nodes the cluster has declared dead; asks the cluster every few seconds."""

    def __init__(self, ray: Any, every_s: float = 2.0):
        self.ray, self.every_s, self.next_at = ray, every_s, 0.0
        self.dead: set[str] = set()

    def lost(self, actors: dict) -> list:
        now = time.monotonic()
        if now < self.next_at:
            return []
        self.next_at = now + self.every_s
        gone = {n["NodeID"] for n in self.ray.nodes() if not n.get("Alive", True)} - self.dead
        self.dead |= gone
        return [a for a, node in actors.items() if node in gone]


def _first_line(e: BaseException) -> str:
    cause = getattr(e, "cause", None)
    text = str(cause if isinstance(cause, BaseException) else e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def run_on_cluster(
    address: str,
    model: str,
    sources: list[str],
    *,
    clips: int,
    json_out: bool,
    device: str,
    threads: int | None,
    top_k: int,
    decode_timeout_s: float,
    pool: PoolConfig | None = None,
) -> tuple[list[dict], list[str]]:
    """vc-run's clip mode on the cluster at `address` (ray_cluster.cluster): (rows, failure messages)."""
    from lrcn.runtime.vcrun.run_clips import run_clips

    cfg = pool or PoolConfig()
    spec = WorkerSpec(os.path.abspath(model), device, threads or 1, top_k, decode_timeout_s, clips)
    out = sys.stdout  # the rows' stream: inside `cluster`, sys.stdout is stderr (Ray prints there)
    with cluster(address) as ray:
        actors = start_pool(ray, spec, cfg)
        return run_clips(
            None,
            sources,
            clips=clips,
            json_out=json_out,
            classify=lambda files: classify_on_pool(ray, actors, files, cfg),
            out=out,
        )
