"""Timing on a noisy shared machine: warm-up, sides alternated in rounds, medians and quartiles.

`alternate` runs every side once per round, in the same order each round (A B A B, not all of
A then all of B), so a load that comes and goes hits every side alike. Each side's turn in a
round is a block: calls until `block_s` has passed (one call at least), so fast sides give
many samples and slow ones one per round.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile of a non-empty list (q in [0, 1])."""
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def stats(values: list[float]) -> dict:
    """{"median", "p25", "p75", "n"} of a non-empty list, rounded for the JSON."""
    return {
        "median": round(statistics.median(values), 4),
        "p25": round(quantile(values, 0.25), 4),
        "p75": round(quantile(values, 0.75), 4),
        "n": len(values),
    }


@dataclass
class Side:
    """One contender: `call()` does one unit of work (a clip, a frame); `per_call` units per call."""

    name: str
    call: Callable[[], object]
    per_call: int = 1
    samples: list[float] = field(default_factory=list)
    """Milliseconds per unit, one entry per call."""
    rounds: list[float] = field(default_factory=list)
    """Median ms per unit of each round."""


def _block(side: Side, block_s: float, keep: bool) -> None:
    start = time.perf_counter()
    got = []
    while not got or time.perf_counter() - start < block_s:
        t0 = time.perf_counter()
        side.call()
        got.append((time.perf_counter() - t0) * 1e3 / side.per_call)
    if keep:
        side.samples += got
        side.rounds.append(statistics.median(got))


def alternate(
    sides: list[Side], *, rounds: int, block_s: float = 0.3, warmup: bool = True, max_s: float | None = None
) -> dict:
    """Warm up each side with one block, then up to `rounds` rounds of one block per side.

    `max_s` stops early once that many seconds have gone and at least one round is done
    (ResNet152 at batch 8 takes tens of seconds a call on 2 cores). Returns {side name: stats
    of ms per unit, with the rounds run}; `ratio` compares two sides afterwards.
    """
    if warmup:
        for s in sides:
            _block(s, 0.0, keep=False)
    start = time.perf_counter()
    done = 0
    while done < rounds:
        for s in sides:
            _block(s, block_s, keep=True)
        done += 1
        if max_s is not None and time.perf_counter() - start > max_s:
            break
    return {s.name: {**stats(s.samples), "rounds": done} for s in sides}


def ratio(slow: Side, fast: Side) -> dict:
    """How many times faster `fast` is than `slow`: the ratio of the medians, and the spread
    (p25, p75) of the same ratio taken round by round."""
    per_round = [a / b for a, b in zip(slow.rounds, fast.rounds) if b > 0]
    med = statistics.median(slow.samples) / statistics.median(fast.samples)
    return {
        "ratio": round(med, 3),
        "round_p25": round(quantile(per_round, 0.25), 3),
        "round_p75": round(quantile(per_round, 0.75), 3),
    }
