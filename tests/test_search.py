"""vc-train --budget: the configuration search (budget, pruning, determinism, resume, nesting, files)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from lrcn.runtime.preprocess import MODALITIES
from lrcn.train.search import (
    Job,
    SearchConfig,
    choose_winner,
    parse_duration,
    search,
    search_and_train,
    write_ranking,
)
from lrcn.train.search_space import LEVERS, SearchSpace, augmentations, base_point, frames_choices, space_for, suggest

REPO = Path(__file__).resolve().parents[1]
QUIET = Console(quiet=True)
TINY_SPACE = SearchSpace(
    inputs=("rgb", "diff"),
    img_sizes=(32, 40),
    frames=(4, 6),
    augments=("none", "light"),
    epochs=(1, 6),
    tta=("none",),
)


@pytest.fixture(scope="module")
def groups_data(tmp_path_factory) -> Path:
    """2 classes x 16 clips in 4 groups each (v_<Class>_gNN_cMM): enough groups to nest 2 in 2."""
    from lrcn.train.synth import SynthConfig, make_dataset

    root = tmp_path_factory.mktemp("search_data")
    make_dataset(root, SynthConfig(classes=2, clips_per_class=16, frames=10, size=32, seed=5), workers=1)
    return root


def _configs(data: Path, cache: Path):
    from lrcn.models.config import ModelConfig
    from lrcn.train.config import DataConfig, TrainConfig

    mc = ModelConfig(name="convlstm", img_size=32, latent_dim=16, hidden_size=12, dropout=0.1)
    dc = DataConfig(root=str(data), num_frames=4, img_size=32, modality="rgb", cache_dir=str(cache), val_fraction=0.0)
    tc = TrainConfig(epochs=6, batch_size=4, lr=3e-3, seed=0, device="cpu", select="last", schedule="cosine")
    return mc, dc, tc


def _job(folder: Path, data: Path, cache: Path, **search_kw) -> Job:
    from lrcn.core.atomic import write_json

    mc, dc, tc = _configs(data, cache)
    folder.mkdir(parents=True, exist_ok=True)
    job = Job(folder, mc, dc, tc, SearchConfig(**{"budget_s": 600.0, "inner_folds": 2, **search_kw}), TINY_SPACE, None)
    write_json(folder / "search.json", job.to_dict())
    return job


def _points(folder: Path) -> list[dict]:
    import optuna

    study = optuna.load_study(study_name="search", storage=f"sqlite:///{folder / 'search.db'}")
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t.user_attrs["point"] for t in study.get_trials(states=done)]


def test_levers_name_what_suggest_draws_in_its_order():
    import optuna

    from lrcn.train.search_space import drawn

    study = optuna.create_study()
    trial = study.ask()
    assert tuple(suggest(trial, TINY_SPACE)) == LEVERS and tuple(trial.params) == drawn(TINY_SPACE) == LEVERS[:-2]
    trial = study.ask()
    both = replace(TINY_SPACE, pools=("last", "mean"), step_losses=(0.0, 0.5))
    assert tuple(suggest(trial, both)) == LEVERS == tuple(trial.params)


def test_parse_duration():
    assert parse_duration("30m") == 1800 and parse_duration("90s") == 90 and parse_duration("90") == 90
    assert parse_duration("1.5h") == 5400 and parse_duration("0") == 0
    with pytest.raises(ValueError, match="--budget takes a duration"):
        parse_duration("soon")


def test_space_reads_the_modalities_and_never_pads_short_clips():
    space = space_for(7, sided=False, tta=True)
    assert space.inputs == MODALITIES  # a modality added where they are defined joins the search
    assert max(space.frames) <= 6  # diff reads T + 1 frames: 7 real frames give T <= 6
    assert frames_choices(None) == frames_choices(1000)
    sided = space_for(100, sided=True, tta=True)
    assert sided.tta == ("none",) and all("flip" not in augmentations(a, True) for a in sided.augments)
    assert "flip" in augmentations("strong", False)


def test_the_head_pool_is_a_lever_only_where_the_space_offers_it():
    from lrcn.train.search_space import SearchSpace, apply, drawn, key

    space = space_for(100, sided=False, tta=False)
    assert space.pools == ("last", "mean") and "pool" in drawn(space)
    old = SearchSpace.from_dict({k: v for k, v in space.to_dict().items() if k != "pool" and k != "pools"})
    assert old.pools == ("last",) and "pool" not in drawn(old)  # a search saved before it keeps its draws
    point = {"input": "diff", "img_size": 64, "frames": 15, "augment": "none", "epochs": 20, "tta": "none"}
    assert key({**point, "pool": "mean"}) == key(point) + "_pool-mean" and key({**point, "pool": "last"}) == key(point)
    from lrcn.models.config import ModelConfig
    from lrcn.train.config import DataConfig, TrainConfig

    model, *_ = apply({**point, "pool": "mean"}, ModelConfig(), DataConfig(), TrainConfig(), sided=False)
    assert model.pool == "mean"
    assert apply(point, ModelConfig(pool="mean"), DataConfig(), TrainConfig(), sided=False)[0].pool == "last"
    # a recipe's per-step loss goes with the last-state head only: a mean head has no output at each step
    _, _, train = apply({**point, "pool": "mean"}, ModelConfig(), DataConfig(), TrainConfig(step_loss=0.5), sided=False)
    assert train.step_loss == 0.0
    assert apply(point, ModelConfig(), DataConfig(), TrainConfig(step_loss=0.5), sided=False)[2].step_loss == 0.5


def test_the_step_loss_is_a_lever_and_a_mean_head_trains_without_it():
    import optuna

    from lrcn.models.config import ModelConfig
    from lrcn.train.config import DataConfig, TrainConfig
    from lrcn.train.search_space import SearchSpace, apply, base_point, drawn, key, normal, suggest

    space = space_for(100, sided=False, tta=False)
    assert space.step_losses == (0.0, 0.5, 1.0) and "step_loss" in drawn(space)
    old = SearchSpace.from_dict({k: v for k, v in space.to_dict().items() if k != "step_losses"})
    assert old.step_losses == (0.0,) and "step_loss" not in drawn(old) and "pool" in drawn(old)
    point = {"input": "diff", "img_size": 64, "frames": 15, "augment": "none", "epochs": 20, "tta": "none"}
    assert key({**point, "step_loss": 0.5}) == key(point) + "_sl-0.5" and key({**point, "step_loss": 0.0}) == key(point)
    assert key({**point, "step_loss": 1.0}) == key(point) + "_sl-1"
    # a mean head has no per-step output: (mean, 0.5) is the point (mean, 0), in one folder
    assert normal({**point, "pool": "mean", "step_loss": 0.5}) == {**point, "pool": "mean", "step_loss": 0.0}
    _, _, train = apply({**point, "step_loss": 0.5}, ModelConfig(), DataConfig(), TrainConfig(), sided=False)
    assert train.step_loss == 0.5
    assert base_point(space, DataConfig(), TrainConfig(step_loss=0.5))["step_loss"] == 0.5
    assert base_point(old, DataConfig(), TrainConfig())["step_loss"] == 0.0
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn_points = [suggest(study.ask(), space) for _ in range(60)]
    assert {p["step_loss"] for p in drawn_points if p["pool"] == "last"} == {0.0, 0.5, 1.0}
    assert {p["step_loss"] for p in drawn_points if p["pool"] == "mean"} == {0.0}


def test_base_point_is_the_recipe():
    from lrcn.train import recipe
    from lrcn.train.config import DataConfig, TrainConfig

    space = space_for(100, sided=False, tta=False)
    d = DataConfig(img_size=64, num_frames=15, modality="diff", augment=["crop", "temporal", "flip"])
    r = recipe.settings("small-real", {})
    epochs, step_loss = int(r["epochs"]), float(r["step_loss"])  # the space must hold the recipe's own
    p = base_point(space, d, TrainConfig(epochs=epochs, step_loss=step_loss))
    assert p == {
        "input": "diff",
        "img_size": 64,
        "frames": 15,
        "augment": "strong",
        "epochs": epochs,
        "tta": "none",
        "zoom": "none",
        "pool": "last",
        "step_loss": step_loss,
    }
    assert base_point(space, d, TrainConfig(epochs=epochs), "mean")["pool"] == "mean"


def _row(trial: int, mean: float, pruned: bool = False) -> dict:
    return {"trial": trial, "key": f"point-{trial}", "mean": mean, "pruned": pruned}


def test_the_recipe_is_kept_unless_beaten_by_more_than_one_standard_error():
    # base 0.80 over 100 clips: one standard error is sqrt(0.8 * 0.2 / 100) = 0.04
    close = [_row(3, 0.83), _row(0, 0.80), _row(1, 0.70)]
    winner, why = choose_winner(close, 100, prefer_base=True)
    assert winner["trial"] == 0 and why.startswith("base recipe kept: the best (point-3) leads it by 0.030")
    assert choose_winner(close, 100, prefer_base=False)[0]["trial"] == 3
    clear = [_row(3, 0.85), _row(0, 0.80)]
    winner, why = choose_winner(clear, 100, prefer_base=True)
    assert winner["trial"] == 3 and "more than one standard error (0.040, 100 clips)" in why
    # more clips, a smaller standard error: the same lead of 0.03 now wins
    assert choose_winner(close, 1000, prefer_base=True)[0]["trial"] == 3
    # the base is the best, the base never completed, nothing completed
    assert choose_winner([_row(0, 0.9), _row(2, 0.8)], 100, True)[0]["trial"] == 0
    no_base = [_row(2, 0.6), _row(0, 0.9, pruned=True)]
    winner, why = choose_winner(no_base, 100, True)
    assert winner["trial"] == 2 and "did not complete" in why
    assert choose_winner([_row(0, 0.5, pruned=True)], 100, True) == (None, "no trial completed")
    # a base that scored 0: its standard error is 0, yet half a clip's worth of lead is still needed
    assert choose_winner([_row(1, 0.004), _row(0, 0.0)], 100, True)[0]["trial"] == 0
    assert choose_winner([_row(1, 0.01), _row(0, 0.0)], 100, True)[0]["trial"] == 1


def test_ranking_files_are_written_atomically(tmp_path, monkeypatch):
    replaced = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append(Path(b).name), real(a, b)))
    rank = {"inner_folds": 2, "budget_s": 10, "spent_s": 3, "winner": None, "note": "n", "rows": []}
    write_ranking(tmp_path, rank)
    assert sorted(replaced) == ["ranking.json", "ranking.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ranking.json", "ranking.md"]  # no temp left
    assert json.loads((tmp_path / "ranking.json").read_text())["spent_s"] == 3


@pytest.mark.slow
def test_budget_is_respected(groups_data, tmp_path):
    import lrcn.train.run  # noqa: F401 - torch's import is not the search's time

    job = _job(tmp_path / "s", groups_data, tmp_path / "cache", budget_s=15.0)
    # no trial can finish on any machine: 200 epochs did finish inside 15 s on a faster CI machine
    job = replace(job, space=replace(TINY_SPACE, epochs=(20000, 40000)))
    t0 = time.monotonic()
    rank = search(job, QUIET)
    took = time.monotonic() - t0
    assert took < 15.0 * 1.1, took
    assert rank["spent_s"] <= 15.0 * 1.1
    assert rank["rows"] and all(r["pruned"] and "budget" in r["why"] for r in rank["rows"])
    assert rank["winner"] is None


@pytest.mark.slow
def test_pruning_stops_weak_trials_and_ranking_is_deterministic(groups_data, tmp_path):
    ranks = [search(_job(tmp_path / f"s{i}", groups_data, tmp_path / "cache", trials=6), QUIET) for i in range(2)]
    pruned = [r for r in ranks[0]["rows"] if r["pruned"]]
    assert pruned and all(r["folds_done"] < 2 and r["why"] == "pruned after fold 1" for r in pruned)
    # the same seed and the same fold results: the same sequence of points and the same ranking
    assert _points(tmp_path / "s0") == _points(tmp_path / "s1")
    assert [(r["key"], r["mean"]) for r in ranks[0]["rows"]] == [(r["key"], r["mean"]) for r in ranks[1]["rows"]]
    md = (tmp_path / "s0" / "ranking.md").read_text()
    assert "| mean | sd | folds done |" in md and ranks[0]["winner"]["key"] in md


SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from rich.console import Console
import test_search as t
from lrcn.train.search import search
if __name__ == "__main__":
    search(t._job(Path({folder!r}), Path({data!r}), Path({cache!r}), trials=4), Console(quiet=True))
"""


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_winner_and_weights(groups_data, tmp_path):
    import torch

    cache = tmp_path / "cache"
    ref = _job(tmp_path / "ref", groups_data, cache, trials=4)
    final = replace(ref.data, folds=None, fold=None, test_fraction=0.0)
    search_and_train(ref, QUIET, final, ref.folder / "final")

    killed = tmp_path / "killed"
    script = SCRIPT.format(tests=str(REPO / "tests"), folder=str(killed), data=str(groups_data), cache=str(cache))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (killed / "ranking.json").is_file() and list((killed / "trials").glob("*/fold-*/config.json")):
                ranked = json.loads((killed / "ranking.json").read_text())["rows"]
                if ranked:  # one trial done: kill wherever the next one is (drawing its point or training)
                    break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the search ended before it could be killed"

    job = Job.load(killed)
    search_and_train(job, QUIET, final, killed / "final")
    a, b = (json.loads((f / "ranking.json").read_text()) for f in (ref.folder, killed))
    assert a["winner"]["key"] == b["winner"]["key"] and a["winner"]["mean"] == b["winner"]["mean"]
    assert _points(ref.folder) == _points(killed)
    wa = torch.load(ref.folder / "final" / "best.pt", weights_only=True)["model"]
    wb = torch.load(killed / "final" / "best.pt", weights_only=True)["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_a_kill_between_two_suggestions_still_resumes_to_the_same_points(groups_data, tmp_path):
    """A kill can land while a trial's levers are being drawn (each is stored as it is drawn): the
    half-drawn point must not be replayed, or the levers after it come from another draw."""
    from lrcn.train.search import _sampler, _study

    cache = tmp_path / "cache"
    ref = _job(tmp_path / "ref", groups_data, cache, trials=3)
    search(ref, QUIET)

    cut = _job(tmp_path / "cut", groups_data, cache, trials=1)
    search(cut, QUIET)
    study = _study(cut)
    study.sampler = _sampler(cut, 1)
    trial = study.ask()  # what the killed process had done: trial 1 asked, two of its levers drawn
    trial.suggest_categorical("input", list(TINY_SPACE.inputs))
    trial.suggest_categorical("img_size", list(TINY_SPACE.img_sizes))
    del study
    search(replace(cut, search=replace(cut.search, trials=3)), QUIET)
    assert _points(ref.folder) == _points(cut.folder)


@pytest.mark.slow
def test_a_kill_while_the_base_point_is_drawn_still_runs_the_base_point(groups_data, tmp_path):
    """Trial 0 is the recipe's point, enqueued, not sampled: a kill half-way through storing its
    levers must not lose it to a sampled point."""
    from lrcn.train.search import _enqueue, _study

    cache = tmp_path / "cache"
    ref = _job(tmp_path / "ref", groups_data, cache, trials=2)
    search(ref, QUIET)

    cut = _job(tmp_path / "cut", groups_data, cache, trials=2)
    study = _study(cut)
    _enqueue(study, base_point(cut.space, cut.data, cut.train))
    trial = study.ask()  # what search() had done when killed: trial 0 asked, one lever stored
    trial.suggest_categorical("input", list(TINY_SPACE.inputs))
    del study
    search(cut, QUIET)
    assert _points(ref.folder) == _points(cut.folder)


@pytest.mark.slow
def test_a_search_saved_with_fewer_step_losses_resumes_on_its_own_choices(groups_data, tmp_path):
    """STEP_LOSSES gained 1.0: a search saved before offers (0, 0.5), and Optuna refuses a lever whose
    choices change under one name ("dynamic value space"), so it resumes on the space it saved."""
    from lrcn.core.atomic import write_json
    from lrcn.train.search_space import STEP_LOSSES

    before = replace(TINY_SPACE, step_losses=(0.0, 0.5))
    assert set(before.step_losses) < set(STEP_LOSSES)
    folder = tmp_path / "saved"
    folder.mkdir()
    mc, dc, tc = _configs(groups_data, tmp_path / "cache")
    job = Job(folder, mc, dc, tc, SearchConfig(budget_s=600.0, inner_folds=2, trials=2), before, None)
    write_json(folder / "search.json", job.to_dict())
    search(job, QUIET)
    resumed = Job.load(folder)
    assert resumed.space == before
    search(replace(resumed, search=replace(resumed.search, trials=5)), QUIET)
    points = _points(folder)
    assert len(points) == 5 and {p["step_loss"] for p in points} <= {0.0, 0.5}


@pytest.mark.slow
def test_nested_search_never_sees_the_outer_test_clips(groups_data, tmp_path):
    from lrcn.train.nested import run_nested

    mc, dc, tc = _configs(groups_data, tmp_path / "cache")
    parent = tmp_path / "nested"
    run_nested(
        mc,
        replace(dc, folds=2),
        replace(tc, out=str(parent)),
        SearchConfig(budget_s=600.0, inner_folds=2, trials=2),
        final=False,
        console=QUIET,
        space=TINY_SPACE,
    )
    for i in (1, 2):
        outer = json.loads((parent / f"fold-{i}" / "splits.json").read_text())
        outer_test = {c["path"] for c in outer["test"]}
        outer_train = {c["path"] for c in outer["train"] + outer["val"]}
        assert outer_test and not outer_test & outer_train
        inner_runs = list((parent / f"search-fold-{i}" / "trials").glob("*/fold-*/splits.json"))
        assert inner_runs
        for f in inner_runs:
            seen = {c["path"] for split in json.loads(f.read_text()).values() for c in split}
            assert seen and not seen & outer_test, f  # the search never used this fold's test clips
            assert seen <= outer_train
    summary = json.loads((parent / "folds.json").read_text())
    assert summary["folds"] == 2
    nested = json.loads((parent / "nested.json").read_text())
    assert set(nested["winners"]) == {"fold-1", "fold-2"}


def test_vc_report_lines_show_each_search_ranking(tmp_path):
    from lrcn.train.search import ranking_lines

    row = {
        "trial": 0,
        "point": {"input": "diff", "img_size": 64, "frames": 8, "augment": "light", "epochs": 20},
        "key": "diff_img64_t8_aug-light_e20",
        "mean": 0.75,
        "sd": 0.05,
        "folds_done": 3,
        "pruned": False,
        "why": "",
        "seconds": 12.0,
    }
    rank = {"inner_folds": 3, "budget_s": 60, "spent_s": 55, "winner": row, "note": "n", "rows": [row]}
    for name in ("search-fold-1", "search-fold-2"):
        (tmp_path / name).mkdir()
        write_ranking(tmp_path / name, rank)
    lines = ranking_lines(tmp_path)
    assert sum(line.endswith("ranking.md:") for line in lines) == 2
    assert any("| diff | 64 | none | 8 | light | 20 | 0.750 | 0.050 | 3 | complete |" in line for line in lines)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--budget", "soon"], "--budget takes a duration"),
        (["--search"], "--search needs a --budget above 0"),
        (["--budget", "1m", "--inner-folds", "1"], "inner folds must be 2 or more"),
        (["--budget", "1m", "--lr", "1e-3,1e-2"], "drop --nproc and comma lists"),
    ],
)
def test_vc_train_refuses_a_bad_search_request(groups_data, tmp_path, flags, message):
    from typer.testing import CliRunner

    from lrcn.train.cli import app

    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["--data", str(groups_data), "--out", str(out), *flags])
    assert r.exit_code == 2 and message in r.output
    assert not out.exists()  # refused before any folder was made


@pytest.mark.slow
def test_a_point_that_cannot_train_never_ends_the_search(groups_data, tmp_path):
    import optuna

    job = _job(tmp_path / "s", groups_data, tmp_path / "cache", budget_s=120.0)
    job = replace(job, space=replace(TINY_SPACE, img_sizes=(8,)))  # 8 px: refused by DataConfig, every point
    t0 = time.monotonic()
    rank = search(job, QUIET)
    assert time.monotonic() - t0 < 60  # ends: the space counts as exhausted, not a loop until the budget
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{job.folder / 'search.db'}")
    failed = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) > 1 and all(t.user_attrs["stopped"].startswith("failed: ") for t in failed)
    assert rank["rows"] == [] and rank["winner"] is None


def test_trials_rank_single_models_and_the_winner_trains_the_ensemble(groups_data, tmp_path):
    mc, dc, tc = _configs(groups_data, tmp_path / "cache")
    job = Job(
        tmp_path / "s",
        replace(mc, members=2),
        dc,
        replace(tc, epochs=2),
        SearchConfig(budget_s=600.0, inner_folds=2, trials=1),
        replace(TINY_SPACE, epochs=(1,)),
        None,
    )
    job.folder.mkdir(parents=True)
    final = search_and_train(job, QUIET, replace(dc, folds=None, test_fraction=0.0), job.folder / "final")
    trial_runs = list((job.folder / "trials").rglob("config.json"))
    assert trial_runs and all(json.loads(p.read_text())["model"]["members"] == 1 for p in trial_runs)
    assert json.loads((final / "config.json").read_text())["model"]["members"] == 2
