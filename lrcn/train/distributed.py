"""Data-parallel plumbing for training under torchrun: process group, rank-0 guard, reductions.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them everything here is a no-op and a
run is the plain single-process one. NCCL on GPUs, gloo on CPUs. A failure inside `on_main`
or `gather` is sent to every rank, so no rank waits in a collective for a peer that has
already given up; the init timeout bounds any other wait.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from lrcn.core.errors import LrcnError

T = TypeVar("T")


class DistributedError(LrcnError):
    """A rank that failed, seen from the ranks that did not."""


@dataclass(frozen=True)
class Ranks:
    """Where this process sits in the job; the defaults are a single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the run folder and prints progress."""
        return self.rank == 0

    def shard(self, items: list[T]) -> list[T]:
        """Every world_size-th item from this rank's index: disjoint, all together cover `items` once."""
        return items[self.rank :: self.world_size]


def env_ranks() -> Ranks:
    """The ranks torchrun gives in the environment (one process when it is absent)."""
    try:
        return Ranks(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )
    except ValueError as e:
        raise LrcnError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers ({e})") from None


def setup(device: torch.device, timeout_s: float) -> tuple[Ranks, torch.device]:
    """Join the process group when launched by torchrun; returns the ranks and this rank's device.

    On CUDA each process takes the GPU of its LOCAL_RANK. Idempotent: a group someone else
    started is used as it is.
    """
    ranks = env_ranks()
    if not ranks.enabled:
        return ranks, device
    if device.type == "cuda":
        if ranks.local_rank >= torch.cuda.device_count():
            raise LrcnError(
                f"LOCAL_RANK {ranks.local_rank} but this node has {torch.cuda.device_count()} "
                "CUDA device(s): start at most that many processes per node"
            )
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kw = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s), **kw)
    return ranks, device


def cleanup(ranks: Ranks) -> None:
    """Leave the group together: no rank tears down its connections while rank 0 still writes."""
    if ranks.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def finish(ranks: Ranks) -> None:
    """End a rank whose job is done: leave the group together, then exit 0 without finalisation.

    The DDP wrapper holds the group (`process_group`) past destroy_process_group until the garbage
    collector takes it, which can be during interpreter finalisation, with gloo's threads; one CI
    run saw a rank abort at its exit ("terminate called without an active exception", exit -6)
    with its run folder complete. Everything a rank writes is written atomically before this.
    """
    from lrcn.runtime.console import exit_now

    cleanup(ranks)
    exit_now(0)


def barrier(ranks: Ranks) -> None:
    if ranks.enabled:
        dist.barrier()


def _message(e: Exception) -> str:
    return str(e) if isinstance(e, (LrcnError, ValueError)) else f"{type(e).__name__}: {e}"


def _raise_failures(outcomes: list[tuple[bool, object]], mine: BaseException | None) -> None:
    bad = [(r, msg) for r, (ok, msg) in enumerate(outcomes) if not ok]
    if not bad:
        return
    if mine is not None:  # this rank's own error, with its own type and message
        raise mine
    r, msg = bad[0]
    raise DistributedError(f"rank {r} failed: {msg}")


def gather(ranks: Ranks, fn: Callable[[], T]) -> list[T]:
    """Run `fn` on every rank; every rank gets the list of all results, by rank.

    If `fn` fails on any rank, every rank raises: the failing one its own error, the others
    a DistributedError naming it.
    """
    if not ranks.enabled:
        return [fn()]
    mine = None
    try:
        outcome = (True, fn())
    except Exception as e:  # noqa: BLE001 - re-raised below, after the peers have heard of it
        mine, outcome = e, (False, _message(e))
    outcomes: list = [None] * ranks.world_size
    dist.all_gather_object(outcomes, outcome)
    _raise_failures(outcomes, mine)
    return [value for _, value in outcomes]


def on_main(ranks: Ranks, fn: Callable[[], T]) -> T:
    """Run `fn` on rank 0 only and hand its result (or its failure) to every rank."""
    if not ranks.enabled:
        return fn()
    mine = None
    box: list = [None]
    if ranks.is_main:
        try:
            box[0] = (True, fn())
        except Exception as e:  # noqa: BLE001 - re-raised below, after the peers have heard of it
            mine, box[0] = e, (False, _message(e))
    dist.broadcast_object_list(box, src=0)
    _raise_failures([box[0]], mine)
    return box[0][1]


def all_sum(ranks: Ranks, values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks, in float64 so counts and loss sums stay exact enough."""
    if not ranks.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def one_process_order(n: int, seed: int) -> list[int]:
    """The order a one-process DataLoader(shuffle=True, generator seeded `seed`) visits n items.

    Asked of DataLoader itself (it draws a worker seed from the generator before shuffling),
    so several ranks together see exactly the global batches one process would.
    """
    if n == 0:
        return []
    g = torch.Generator()
    g.manual_seed(seed)
    return torch.cat(list(torch.utils.data.DataLoader(range(n), batch_size=n, shuffle=True, generator=g))).tolist()


class ShardSampler(torch.utils.data.Sampler):
    """This rank's share of a global order, order[rank::W], padded like DistributedSampler.

    The order is wrapped round to a multiple of W so every rank takes the same number of
    steps (a rank with fewer would leave the others waiting in DDP's all-reduce). With
    per-rank batch B, global batch k is then one process's batch k at batch size B * W,
    except when the padding repeats clips in the last one.
    """

    def __init__(self, order: list[int], ranks: Ranks):
        total = -(-len(order) // ranks.world_size) * ranks.world_size
        padded = (order * -(-total // len(order)))[:total] if order else []
        self.indices = padded[ranks.rank :: ranks.world_size]

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def reduce_epoch(ranks: Ranks, stats: dict, device: torch.device) -> dict:
    """A training epoch's loss and accuracy over every rank's clips; throughput summed over ranks."""
    if not ranks.enabled:
        return stats
    n = stats["clips"]
    loss, correct, clips, rate = all_sum(
        ranks, [stats["loss"] * n, stats["accuracy"] * n, n, stats["clips_per_s"]], device
    )
    return {
        **stats,
        "loss": loss / max(clips, 1),
        "accuracy": correct / max(clips, 1),
        "clips": int(clips),
        "clips_per_s": rate,
    }


class _ForwardAs(nn.Module):
    """forward() = one of the model's methods, so DDP's gradient hooks see that path: forward_frozen
    (the feature cache) or member_logits (an ensemble, each member on its own loss)."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(x)


def wrap(
    model: nn.Module, ranks: Ranks, device: torch.device, frozen_inputs: bool, steps: bool = False
) -> tuple[nn.Module, bool]:
    """The module to train and whether the loop must still call forward_frozen itself.

    Single process: the model as it is. Several: DistributedDataParallel over it (SyncBatchNorm
    first on CUDA; torch's SyncBatchNorm refuses CPU tensors, so under gloo each rank
    normalises with its own batch). Checkpoints are always taken from `model`, never the wrapper.
    With `steps` (training's per-step loss), the wrapper's forward() returns the logits at every step.
    """
    if not ranks.enabled:
        return model, frozen_inputs
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if steps:
        inner: nn.Module = _ForwardAs(model, "frozen_step_logits" if frozen_inputs else "member_step_logits")
    elif frozen_inputs:
        inner = _ForwardAs(model, "forward_frozen")
    else:
        inner = _ForwardAs(model, "member_logits") if model.cfg.members > 1 else model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(inner, device_ids=ids), False


def sync_buffers(ranks: Ranks, model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics), the ones its checkpoint holds.

    DDP broadcasts them before each training forward, but each rank then updates its own copy.
    """
    if ranks.enabled:
        for b in model.buffers():
            dist.broadcast(b, src=0)


def evaluate_split(model: nn.Module, dataset, make_loader: Callable, ranks: Ranks, device: torch.device, **kw) -> dict:
    """`loop.evaluate` over the whole dataset exactly once: rank r takes items r, r + W, ... (no
    padding), and the parts are put back in dataset order, so loss, accuracy and predictions are
    one process's. `model` is the unwrapped one: no collective runs inside, so shares may differ."""
    from lrcn.train.loop import evaluate

    if not ranks.enabled:
        return evaluate(model, make_loader(dataset), device, **kw)
    sync_buffers(ranks, model)
    idx = ranks.shard(list(range(len(dataset))))
    part = evaluate(model, make_loader(torch.utils.data.Subset(dataset, idx)), device, **kw)
    parts = gather(ranks, lambda: (idx, part))
    n = len(dataset)
    if n == 0:
        return part
    preds, labels, probs = [None] * n, [None] * n, [None] * n
    loss_sum = 0.0
    for ids, p in parts:
        if not ids:
            continue
        loss_sum += p["loss"] * len(ids)
        for j, i in enumerate(ids):
            preds[i], labels[i], probs[i] = p["preds"][j], p["labels"][j], p["probs"][j]
    correct = sum(int(a == b) for a, b in zip(preds, labels))
    return {"loss": loss_sum / n, "accuracy": correct / n, "preds": preds, "labels": labels, "probs": probs}
