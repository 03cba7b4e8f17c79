"""`vc-run --workers N`: clip mode over many files in N processes, each with its own onnxruntime session.

Files go to a spawn-started process pool (no fork of a process holding onnxruntime threads)
and come back in input order, so the output is a serial run's. Cores are split, not
oversubscribed: each worker gets max(1, cores // N) intra-op threads (or --threads each) and
as many OpenCV threads. A file that fails is its one-line error row, made inside the worker.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from multiprocessing import get_context

from lrcn.core.errors import LrcnError
from lrcn.runtime.classifier import error_row
from lrcn.runtime.session import CPU


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_threads(workers: int, threads: int | None = None) -> int:
    """Intra-op threads per worker: --threads when given, else an equal share of the cores."""
    return threads or max(1, usable_cores() // workers)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to rebuild the classifier (picklable, hashable)."""

    model: str
    device: str
    threads: int
    top_k: int
    decode_timeout_s: float
    clips: int


@lru_cache(maxsize=1)
def _classifier(spec: WorkerSpec):
    """The worker's one classifier, built on its first use; lives as long as the worker process."""
    from lrcn.runtime.classifier import VideoClassifier

    return VideoClassifier(
        spec.model, device=spec.device, threads=spec.threads, top_k=spec.top_k, decode_timeout_s=spec.decode_timeout_s
    )


def _start(spec: WorkerSpec) -> None:
    import cv2

    cv2.setNumThreads(spec.threads)
    try:
        _classifier(spec)  # load the model now, not inside the first file's timing
    except LrcnError:
        pass  # each file then reports it as its own error row


def _classify(spec: WorkerSpec, path: str) -> dict:
    try:
        return _classifier(spec).predict(path, clips=spec.clips).to_dict()
    except LrcnError as e:
        return error_row(path, str(e))


def classify_parallel(
    clf, files: list[str], *, clips: int, workers: int, threads: int | None = None
) -> Generator[dict, None, None]:
    """One result row per file (prediction or error), in the order of `files`.

    `clf` is the caller's classifier: the workers load the same model on the providers it got
    (the CPU when `auto` fell back), with the same top-k and decode timeout.
    """
    device = "cpu" if clf.providers == [CPU] else clf.model.factory.cfg.device
    spec = WorkerSpec(str(clf.model.path), device, worker_threads(workers, threads), clf.k, clf.decode_timeout_s, clips)
    pool = ProcessPoolExecutor(
        min(workers, max(1, len(files))), mp_context=get_context("spawn"), initializer=_start, initargs=(spec,)
    )
    try:
        yield from pool.map(partial(_classify, spec), files)
    finally:  # Ctrl-C or an early stop: drop the queued files, do not wait for them
        pool.shutdown(wait=True, cancel_futures=True)
