"""`vc-train --budget`: choose the training configuration by group k-fold on the user's own clips.

Optuna proposes points of lrcn.train.search_space (a TPE sampler seeded per trial) and a
successive-halving pruner stops weak ones early: a trial trains its inner folds one after
another and reports the running mean of their test accuracies after each, so a point that
is behind the others after one fold stops there. The budget bounds the search's wall time:
no trial starts when the time left cannot fit the cheapest one seen, and a trial still
training when the budget runs out is stopped at the end of its epoch (recorded as pruned).
Then the winner is trained on every clip of the pool: the best mean over all inner folds, except
that the base recipe (trial 0) is kept unless that best mean beats it by more than one standard
error of the base's accuracy over the pool's clips (`prefer_base`): with a few inner folds of
tens of clips, a lead smaller than that is mostly which clips fell where, and measured nested
searches lost to the recipe by picking such leads.

A search folder holds search.json (what was asked: the base configs, the pool of clips, the
space, the budget), search.db (Optuna's sqlite storage: `vc-train --resume FOLDER` continues
it), trials/<point>/fold-J (the inner runs, checkpoints removed; a finished one is reused, so
a resumed or repeated point costs nothing), ranking.json / ranking.md, and final/ (the model
to export). The best inner mean is chosen on those same folds, so it is optimistic: the honest
estimate is `--folds K` with the search, which runs it inside each outer fold's training clips
(lrcn.train.nested).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from lrcn.core.atomic import write_json
from lrcn.core.errors import LrcnError
from lrcn.train.search_space import (
    SearchSpace,
    apply,
    base_point,
    drawn,
    first_choices,
    key,
    normal,
    space_for,
    suggest,
)

SEARCH_FILE = "search.json"
STORAGE = "search.db"
RANKING = "ranking.json"
RANKING_MD = "ranking.md"
INNER_FOLDS = 3
REDUCTION = 3
"""Successive halving keeps about 1 in REDUCTION trials at each rung (fold 1, then fold 3, ...)."""
MAX_REPEATS = 20
"""Proposals of points already tried, in a row, after which the space counts as exhausted."""


class OverBudget(Exception):
    """Raised between epochs when a trial's time is up."""


@dataclass
class SearchConfig:
    budget_s: float
    inner_folds: int = INNER_FOLDS
    trials: int | None = None
    """Stop after this many finished trials (None: the budget alone decides)."""
    prefer_base: bool = True
    """Keep the base recipe unless a configuration's inner mean beats it by more than one standard
    error (see choose_winner); False: the best inner mean wins, however small its lead."""
    tta: bool = False
    """Offer test-time averaging (flip) to the search as a choice: off (and not on vc-train) until
    vc-export's metadata and vc-run carry it; every fold records its accuracy and cost meanwhile."""

    def __post_init__(self) -> None:
        if not self.budget_s > 0:
            raise ValueError(f"budget must be > 0 seconds, got {self.budget_s}")
        if self.inner_folds < 2:
            raise ValueError(f"inner folds must be 2 or more, got {self.inner_folds}")
        if self.trials is not None and self.trials < 1:
            raise ValueError(f"trials must be 1 or more, got {self.trials}")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """'30m' -> 1800.0, '90s' or '90' -> 90.0, '1.5h' -> 5400.0, '0' -> 0.0."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"--budget takes a duration like 30m, 90s, 1h or 0, got {text!r}")
    return float(m[1]) * {"s": 1, "m": 60, "h": 3600}[(m[2] or "s").lower()]


def is_search(folder: str | Path) -> bool:
    return (Path(folder) / SEARCH_FILE).is_file()


# ---------------------------------------------------------------- the data's clip lengths


def median_frames(paths: list[str], cache_file: Path) -> int | None:
    """The median count of frames that really decode over `paths` (each counted once, kept in
    `cache_file`, so a resumed or nested search does not decode again). Unreadable files are left out."""
    from lrcn.core.errors import VideoError
    from lrcn.runtime.video import decode_video

    counts: dict[str, int] = {}
    if cache_file.is_file():
        try:
            counts = {k: int(v) for k, v in json.loads(cache_file.read_text()).items()}
        except (OSError, ValueError):
            counts = {}
    missing = [p for p in paths if p not in counts]
    for p in missing:
        try:
            counts[p] = decode_video(p, 16).num_decoded
        except VideoError:
            continue
    if missing:
        write_json(cache_file, counts)
    found = [counts[p] for p in paths if p in counts]
    return int(statistics.median(found)) if found else None


# ---------------------------------------------------------------- the search


@dataclass
class Job:
    """Everything a search needs, saved in search.json so that --resume rebuilds it."""

    folder: Path
    model: object
    data: object
    train: object
    search: SearchConfig
    space: SearchSpace
    pool: list[str] | None
    """The clips it may use (an outer fold's training clips), None: every clip of data.root."""

    def to_dict(self) -> dict:
        return {
            "model": asdict(self.model),
            "data": asdict(self.data),
            "train": asdict(self.train),
            "search": asdict(self.search),
            "space": self.space.to_dict(),
            "pool": self.pool,
        }

    @classmethod
    def load(cls, folder: Path) -> Job:
        from lrcn.core.checks import from_dict
        from lrcn.models.config import ModelConfig
        from lrcn.train.config import DataConfig, TrainConfig

        try:
            d = json.loads((folder / SEARCH_FILE).read_text())
        except (OSError, ValueError) as e:
            raise LrcnError(f"{folder / SEARCH_FILE}: cannot read ({e})") from None
        return cls(
            folder,
            ModelConfig.from_dict(d["model"]),
            from_dict(DataConfig, d["data"]),
            from_dict(TrainConfig, d["train"]),
            SearchConfig(**d["search"]),
            SearchSpace.from_dict(d["space"]),
            d["pool"],
        )


def new_job(
    folder: Path,
    model_cfg,
    data_cfg,
    train_cfg,
    search: SearchConfig,
    pool: list[str] | None,
    counts: Path,
    space: SearchSpace | None = None,
) -> Job:
    """A search over `pool` (None: every clip), its space read from those clips (their frame
    counts kept in the file `counts`) unless `space` is given (tests: a space of tiny models)."""
    from lrcn.train.data import discover
    from lrcn.train.recipe import sided

    names, samples = discover(replace(data_cfg, clips=pool))
    folder.mkdir(parents=True, exist_ok=True)
    if space is None:
        space = space_for(median_frames([s.path for s in samples], counts), bool(sided(names)), search.tta)
    job = Job(folder, model_cfg, data_cfg, train_cfg, search, space, pool)
    write_json(folder / SEARCH_FILE, job.to_dict())
    return job


def _study(job: Job):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name="search",
        storage=f"sqlite:///{(job.folder / STORAGE).resolve()}",
        direction="maximize",
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=REDUCTION),
        sampler=_sampler(job, 0),
        load_if_exists=True,
    )


def _sampler(job: Job, finished: int):
    """A sampler seeded by the run's seed and the number of finished trials: the same seed and the
    same results give the same sequence of points, across a kill and --resume too."""
    import optuna

    return optuna.samplers.TPESampler(seed=job.train.seed * 10_007 + finished, n_startup_trials=4)


def _done(study) -> list:
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def _fold_run(job: Job, point: dict, j: int, deadline: float, console) -> dict:
    """Train and test inner fold j of `point`; {accuracy, seconds}. A finished run is reused."""
    from rich.console import Console

    from lrcn.train.data import discover
    from lrcn.train.run import train

    out = job.folder / "trials" / key(point) / f"fold-{j + 1}"
    metrics = out / "metrics.json"
    if metrics.is_file():
        m = json.loads(metrics.read_text())
        tta = json.loads((out / "tta.json").read_text()) if (out / "tta.json").is_file() else None
        return {"accuracy": m["test_accuracy"], "seconds": m["train_seconds"], "reused": True, "tta": tta}
    if out.exists():  # killed half-way: training is deterministic, so start it again
        shutil.rmtree(out)
    pool = job.pool if job.pool is not None else [s.path for s in discover(job.data)[1]]
    model, data, tr = apply(point, job.model, job.data, job.train, job.space.sided)
    # trials rank configurations as single models, at 1/M of an ensemble's cost; the winner trains with --members
    model = replace(model, members=1)
    data = replace(data, clips=pool, folds=job.search.inner_folds, fold=j, test_root=None, split_dir=None)

    def check(epoch: int) -> None:
        if time.monotonic() > deadline:
            raise OverBudget(f"budget spent during epoch {epoch}")

    t0 = time.monotonic()
    try:
        train(model, data, replace(tr, out=str(out)), console=Console(quiet=True), after_epoch=check)
    except OverBudget:
        shutil.rmtree(out, ignore_errors=True)
        raise
    tta = None
    if not job.space.sided:  # measured, not chosen: see lrcn.train.tta
        from lrcn.train.tta import flip_scores

        tta = flip_scores(out)
        write_json(out / "tta.json", tta)
    for ck in ("best.pt", "last.pt"):  # the fold's figures are kept, its weights are not needed
        (out / ck).unlink(missing_ok=True)
    m = json.loads(metrics.read_text())
    return {"accuracy": m["test_accuracy"], "seconds": time.monotonic() - t0, "reused": False, "tta": tta}


def _run_trial(job: Job, study, trial, point: dict, deadline: float, console) -> None:
    import optuna

    accs, seconds = [], 0.0
    trial.set_user_attr("point", point)
    for j in range(job.search.inner_folds):
        try:
            if time.monotonic() >= deadline:
                raise OverBudget(f"budget spent before fold {j + 1}")
            r = _fold_run(job, point, j, deadline, console)
        except OverBudget as e:
            trial.set_user_attr("stopped", str(e))
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return
        except (LrcnError, ValueError, RuntimeError) as e:  # one point that cannot train never ends the search
            console.print(f"[yellow]search trial {trial.number} ({key(point)}) failed:[/] {e}")
            trial.set_user_attr("stopped", f"failed: {str(e)[:300]}")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        accs.append(r["accuracy"])
        seconds += r["seconds"]
        trial.set_user_attr("folds", accs)
        if r["tta"] is not None:
            trial.set_user_attr("tta", [*trial.user_attrs.get("tta", []), r["tta"]])
        trial.set_user_attr("seconds", round(seconds, 2))
        if not r["reused"]:
            trial.set_user_attr("fold_seconds", [*trial.user_attrs.get("fold_seconds", []), round(r["seconds"], 2)])
        trial.report(statistics.fmean(accs), j + 1)
        if j + 1 < job.search.inner_folds and trial.should_prune():
            trial.set_user_attr("stopped", f"pruned after fold {j + 1}")
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return
    study.tell(trial, statistics.fmean(accs))


def _cheapest_trial_s(job: Job, study) -> float | None:
    """Seconds of the cheapest full trial seen: the fastest inner fold times the fold count."""
    times = [s for t in study.get_trials(deepcopy=False) for s in t.user_attrs.get("fold_seconds", [])]
    return min(times) * job.search.inner_folds if times else None


def _enqueue(study, point: dict, **attrs) -> None:
    """Ask `point` next. The trial keeps the whole point (user attr "enqueued") from the start, so a
    kill before all its levers are stored still knows what it was to be."""
    study.enqueue_trial(point, user_attrs={"enqueued": point, **attrs})


def _abandon_running(study, space: SearchSpace) -> None:
    """Trials left RUNNING by a killed process: marked failed, and their point asked again first:
    an enqueued one (the base recipe's, or a requeued one) whole, a sampled one when all its levers
    were stored. A sampled point killed half-drawn (each lever is stored as it is drawn) is not
    replayed: its later levers would come from another draw. The fresh sampler, seeded as before
    the kill and blind to failed trials, draws the whole point again instead."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        whole = set(drawn(space)) <= set(t.params)
        point = t.user_attrs.get("enqueued") or (normal({**first_choices(space), **t.params}) if whole else None)
        if point is not None:
            _enqueue(study, point, requeued=t.number)


def search(job: Job, console) -> dict:
    """Run (or continue) the search within its budget; returns the ranking (see ranking())."""
    from lrcn.runtime.console import safe_markup as safe

    start = time.monotonic()  # the budget counts from here: opening the storage takes seconds too
    study = _study(job)
    _abandon_running(study, job.space)
    if not study.get_trials(deepcopy=False):  # the base recipe first: the fallback is measured too
        _enqueue(study, base_point(job.space, job.data, job.train, job.model.pool))
    state_file = job.folder / "spent.json"
    spent = json.loads(state_file.read_text())["seconds"] if state_file.is_file() else 0.0
    budget = job.search.budget_s
    deadline = start + max(0.0, budget - spent)
    repeats, seen = 0, {key(t.user_attrs["point"]) for t in _done(study) if "point" in t.user_attrs}
    console.print(
        f"search: {safe(job.folder)}  budget {budget:.0f}s ({spent:.0f}s spent before)  "
        f"{job.search.inner_folds} inner group folds  space {job.space.to_dict()}"
    )
    while True:
        finished = len(_done(study))
        if job.search.trials is not None and finished >= job.search.trials:
            break
        left, cheapest = deadline - time.monotonic(), _cheapest_trial_s(job, study)
        if left <= 0 or (cheapest is not None and left < cheapest):
            break
        if repeats >= MAX_REPEATS:
            console.print("search: the space is exhausted (every proposal was tried before)")
            break
        failed = sum(
            1 for t in study.get_trials(deepcopy=False) if t.user_attrs.get("stopped", "").startswith("failed")
        )
        study.sampler = _sampler(job, finished + failed)  # a point that failed is not proposed again and again
        trial = study.ask()
        point = suggest(trial, job.space)
        repeats = repeats + 1 if key(point) in seen else 0
        seen.add(key(point))
        _run_trial(job, study, trial, point, deadline, console)
        write_json(state_file, {"seconds": spent + time.monotonic() - start})
        rank = ranking(job, study)
        write_ranking(job.folder, rank)
        last = next((r for r in rank["rows"] if r["key"] == key(point)), None)  # None: the trial failed
        if last is not None:
            again = "" if last["trial"] == trial.number else f" (a repeat of trial {last['trial']}, reused)"
            console.print(f"search trial {trial.number}: {row_text(last)}{again}")
    write_json(state_file, {"seconds": spent + time.monotonic() - start})
    rank = ranking(job, study)
    write_ranking(job.folder, rank)
    return rank


# ---------------------------------------------------------------- ranking


def ranking(job: Job, study) -> dict:
    """One row per finished trial: point, fold accuracies, mean and sd, folds done, pruned or not,
    seconds; complete trials first by mean, then pruned ones. The winner is the first complete row."""
    import optuna

    rows = []
    for t in _done(study):
        folds = t.user_attrs.get("folds", [])
        rows.append(
            {
                "trial": t.number,
                "point": t.user_attrs.get("point", t.params),
                "key": key(t.user_attrs.get("point", t.params)),
                "folds": folds,
                "mean": statistics.fmean(folds) if folds else None,
                "sd": statistics.stdev(folds) if len(folds) > 1 else None,
                "folds_done": len(folds),
                "pruned": t.state == optuna.trial.TrialState.PRUNED,
                "why": t.user_attrs.get("stopped", ""),
                "seconds": t.user_attrs.get("seconds", 0.0),
                **_tta_columns(t.user_attrs.get("tta", [])),
            }
        )
    rows.sort(key=lambda r: r["trial"])
    first: dict[str, dict] = {}
    for r in rows:  # a point proposed again reused its fold runs: one row per configuration, the first
        first.setdefault(r["key"], r)
    rows = sorted(first.values(), key=lambda r: (r["pruned"], -round(r["mean"] or -1, 9), r["trial"]))
    clips = _pool_size(job)
    winner, rule = choose_winner(rows, clips, job.search.prefer_base)
    return {
        "inner_folds": job.search.inner_folds,
        "budget_s": job.search.budget_s,
        "spent_s": json.loads((job.folder / "spent.json").read_text())["seconds"]
        if (job.folder / "spent.json").is_file()
        else 0.0,
        "pool_clips": clips,
        "space": job.space.to_dict(),
        "winner": winner,
        "winner_rule": rule,
        "note": "the winner's mean is the best of several on the same folds, so optimistic; the honest "
        "estimate is vc-train --folds K with --budget (the search nested in each outer fold). "
        "flip-TTA: the same fold models scored with each clip averaged with its mirror image, and the "
        "inference cost per clip; recorded, not chosen, since vc-export and vc-run do not carry it yet",
        "rows": rows,
    }


def choose_winner(rows: list[dict], clips: int, prefer_base: bool) -> tuple[dict | None, str]:
    """The winner among ranked rows (complete ones first, best mean first) and why, in one line.

    The base recipe is trial 0. With prefer_base it stays the winner unless the best complete
    row's mean exceeds the base's by more than one binomial standard error of the base's
    accuracy p over the `clips` the inner folds tested (each pool clip once):
    sqrt(p (1 - p) / clips), at least 0.5 / clips (half a clip)."""
    best = next((r for r in rows if not r["pruned"]), None)
    if best is None:
        return None, "no trial completed"
    base = next((r for r in rows if r["trial"] == 0 and not r["pruned"]), None)
    if not prefer_base or base is None or base is best:
        why = "best inner mean" + ("" if base is not None or not prefer_base else " (the base recipe did not complete)")
        return best, why
    p, n = base["mean"], max(clips, 1)
    se = max(math.sqrt(p * (1 - p) / n), 0.5 / n)
    lead = best["mean"] - p
    if lead > se:
        return best, f"beats the base recipe by {lead:.3f}, more than one standard error ({se:.3f}, {clips} clips)"
    return base, (
        f"base recipe kept: the best ({best['key']}) leads it by {lead:.3f}, within one standard error "
        f"({se:.3f}, {clips} clips)"
    )


def _pool_size(job: Job) -> int:
    """The clips the inner folds test between them (each once): the pool, or every clip of the data."""
    if job.pool is not None:
        return len(job.pool)
    from lrcn.train.data import discover

    return len(discover(job.data)[1])


def _tta_columns(folds: list[dict]) -> dict:
    """Mean over the folds of the flip-averaged accuracy and of the per-clip cost, plain and averaged."""
    if not folds:
        return {"tta_flip_mean": None, "plain_ms": None, "tta_flip_ms": None}
    return {
        "tta_flip_mean": statistics.fmean(f["flip"] for f in folds),
        "plain_ms": statistics.fmean(f["plain_ms"] for f in folds),
        "tta_flip_ms": statistics.fmean(f["flip_ms"] for f in folds),
    }


def row_text(r: dict) -> str:
    sd = "n/a" if r["sd"] is None else f"{r['sd']:.3f}"
    mean = "n/a" if r["mean"] is None else f"{r['mean']:.3f}"
    state = f"pruned ({r['why']})" if r["pruned"] else "complete"
    return f"{r['key']}  mean {mean} sd {sd}  folds {r['folds_done']}  {state}  {r['seconds']:.0f}s"


def ranking_markdown(rank: dict) -> str:
    lines = [
        f"# Configuration search: {len(rank['rows'])} trials, {rank['inner_folds']} inner group folds, "
        f"{rank['spent_s']:.0f} s of a {rank['budget_s']:.0f} s budget",
        "",
        "| # | trial | input | img | zoom | T | augment | epochs | mean | sd | folds done | state | s "
        "| flip-TTA mean (not chosen) | ms/clip plain, TTA |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rank["rows"], 1):
        p = r["point"]
        mean = "n/a" if r["mean"] is None else f"{r['mean']:.3f}"
        sd = "n/a" if r["sd"] is None else f"{r['sd']:.3f}"
        state = f"pruned: {r['why']}" if r["pruned"] else "complete"
        tta = "n/a" if r.get("tta_flip_mean") is None else f"{r['tta_flip_mean']:.3f}"
        cost = "n/a" if r.get("plain_ms") is None else f"{r['plain_ms']:.1f}, {r['tta_flip_ms']:.1f}"
        lines.append(
            f"| {i} | {r['trial']} | {p['input']} | {p['img_size']} | {p.get('zoom', 'none')} | {p['frames']} | "
            f"{p['augment']} | "
            f"{p['epochs']} | {mean} | {sd} | {r['folds_done']} | {state} | {r['seconds']:.0f} | {tta} | {cost} |"
        )
    w = rank["winner"]
    rule = f" Rule: {rank['winner_rule']}." if rank.get("winner_rule") else ""
    lines += [
        "",
        f"Winner: {w['key']} (trial {w['trial']}).{rule}" if w else "No trial completed: the base recipe is used.",
    ]
    lines += ["", f"Note: {rank['note']}.", ""]
    return "\n".join(lines)


def ranking_lines(folder: Path) -> list[str]:
    """The ranking table(s) of a search folder or a nested parent (one per search-*), for vc-report."""
    found = [folder / RANKING_MD] if (folder / RANKING_MD).is_file() else []
    found += sorted(folder.glob(f"search-*/{RANKING_MD}"))
    lines = []
    for f in found:
        try:
            text = f.read_text()
        except OSError as e:
            lines.append(f"{f}: cannot read ({e.strerror})")
            continue
        lines += [f"{f}:", *text.splitlines()]
    return lines


def write_ranking(folder: Path, rank: dict) -> None:
    from lrcn.core.atomic import write_text

    write_json(folder / RANKING, rank)
    write_text(folder / RANKING_MD, ranking_markdown(rank))


# ---------------------------------------------------------------- search, then the final model


def winner_configs(job: Job, rank: dict):
    """(model, data, train, point or None) of the winner; the base recipe's when nothing completed."""
    w = rank["winner"]
    if w is None:
        return job.model, job.data, job.train, None
    m, d, t = apply(w["point"], job.model, job.data, job.train, job.space.sided)
    return m, d, t, w["point"]


def search_and_train(job: Job, console, final_data, out: Path) -> Path:
    """The search, then the winner trained with `final_data`'s split into `out` (a finished `out`
    is kept, a half-written one trained again)."""
    from lrcn.runtime.console import safe_markup as safe
    from lrcn.train.run import train

    rank = search(job, console)
    model, data, tr, point = winner_configs(job, rank)
    w = rank["winner"]
    if w is None:
        console.print("[yellow]search: no trial completed within the budget; the base recipe trains[/]")
    else:
        console.print(
            f"search winner {safe(w['key'])}: inner {job.search.inner_folds}-fold mean {w['mean']:.3f} "
            f"(chosen among {len(rank['rows'])} trials on these folds: optimistic, not an estimate; "
            f"{safe(rank.get('winner_rule', ''))})"
        )
    if (out / "metrics.json").is_file():
        return out
    if out.exists():
        shutil.rmtree(out)
    data = replace(
        data,
        clips=final_data.clips,
        folds=final_data.folds,
        fold=final_data.fold,
        test_fraction=final_data.test_fraction,
        val_fraction=final_data.val_fraction,
    )
    why = f"{tr.recipe_why}\nconfiguration chosen by the search in {job.folder}" + (f": {key(point)}" if point else "")
    return train(model, data, replace(tr, out=str(out), recipe_why=why.strip()), console=console)


def run_search(model_cfg, data_cfg, train_cfg, search_cfg: SearchConfig, console=None, space=None) -> Path:
    """vc-train --budget without --folds: search over every clip, then final/ on every clip."""
    from rich.console import Console

    from lrcn.core.atomic import write_text
    from lrcn.core.paths import RUNS_DIR, fresh_folder
    from lrcn.train.report import SWEEP_MARKER

    console = console or Console()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(train_cfg.out) if train_cfg.out else fresh_folder(RUNS_DIR, f"{model_cfg.name}-search-{stamp}")
    if is_search(folder):
        raise LrcnError(f"{folder}: holds a search already; continue it with vc-train --resume {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / SWEEP_MARKER, "vc-train search folder: vc-report writes its report here\n")
    job = new_job(folder, model_cfg, data_cfg, train_cfg, search_cfg, None, folder / "frame_counts.json", space)
    final = replace(data_cfg, folds=None, fold=None, test_fraction=0.0, clips=None)
    out = search_and_train(job, console, final, folder / "final")
    console.print(f"final model {out}  (export it: vc-export --run {out})")
    return folder


def resume_search(folder: str | Path, console=None) -> Path:
    from rich.console import Console

    console = console or Console()
    folder = Path(folder)
    job = Job.load(folder)
    final = replace(job.data, folds=None, fold=None, test_fraction=0.0, clips=None)
    out = search_and_train(job, console, final, folder / "final")
    console.print(f"final model {out}  (export it: vc-export --run {out})")
    return folder
