"""Recipes and the levers they set: auto picks by data size, options given win, the default path is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from lrcn.train import recipe
from lrcn.train.config import DataConfig, TrainConfig


def _folder(tmp_path, n):
    for i in range(n):
        d = tmp_path / f"c{i % 2}"
        d.mkdir(exist_ok=True)
        (d / f"v_c_g{i:02d}_c001.avi").write_bytes(b"x")
    return tmp_path


def test_auto_picks_by_clip_count(tmp_path, monkeypatch):
    root = _folder(tmp_path, 6)
    assert recipe.resolve("auto", root)[0] == "small-real"
    monkeypatch.setattr(recipe, "SMALL_CLIPS", 6)
    name, why = recipe.resolve("auto", root)
    assert name == "default" and "6 clips" in why
    assert recipe.resolve("small-real", root)[0] == "small-real"
    assert recipe.resolve("auto", root, classes=["c0"])[0] == "small-real"  # only the classes used count
    assert recipe.resolve("auto", root, num_classes=1)[0] == "small-real"
    with pytest.raises(ValueError, match="--recipe"):
        recipe.resolve("huge", root)


def test_default_recipe_is_the_old_defaults_and_given_options_win():
    d = recipe.settings("default", {})
    assert (int(d["frames"]), int(d["img_size"]), d["input"]) == (
        DataConfig.num_frames,
        DataConfig.img_size,
        DataConfig.modality,
    )
    assert (float(d["lr"]), int(d["batch_size"]), d["epochs"]) == (
        TrainConfig.lr,
        TrainConfig.batch_size,
        TrainConfig.epochs,
    )
    assert (d["weight_decay"], d["label_smoothing"], d["schedule"], d["select"], d["augment"]) == (
        TrainConfig.weight_decay,
        TrainConfig.label_smoothing,
        TrainConfig.schedule,
        TrainConfig.select,
        None,
    )
    assert (d["ema"], d["val_frac"]) == (TrainConfig.ema, DataConfig.val_fraction)
    s = recipe.settings("small-real", {"img_size": "96", "augment": None})
    assert s["img_size"] == "96" and "flip" in s["augment"] and s["schedule"] == "cosine"
    assert (s["epochs"], s["ema"], s["select"], s["val_frac"]) == (60, 0.0, "last", 0.0)
    assert recipe.settings("small-real", {"val_frac": 0.2})["val_frac"] == 0.2
    assert recipe.settings("small-real", {"val_frac": 0.0, "ema": 0.99})["ema"] == 0.99
    # an ensemble of three on small data (README "Ensembles"); one model elsewhere, and --members wins
    assert (recipe.settings("small-real", {})["members"], recipe.settings("default", {})["members"]) == (3, 1)
    assert recipe.settings("small-real", {"members": 1})["members"] == 1


def test_cosine_warmup_and_selection():
    import torch

    from lrcn.train.levers import make_scheduler, score

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = make_scheduler(opt, TrainConfig(epochs=5, schedule="cosine", warmup_epochs=1))
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0)
    assert lrs[1] > lrs[2] > lrs[3] > lrs[4] > 0
    a, b = {"loss": 0.9, "accuracy": 0.8}, {"loss": 0.5, "accuracy": 0.7}
    assert score(a, "accuracy", 1) > score(b, "accuracy", 2) and score(b, "loss", 1) > score(a, "loss", 2)
    assert score({"loss": 0.4, "accuracy": 0.8}, "accuracy", 3) > score(a, "accuracy", 1)  # ties: lower loss
    assert score(a, "last", 3) > score(b, "last", 2)
    assert score({"loss": float("nan"), "accuracy": float("nan")}, "loss", 1) < score(a, "loss", 1)


def test_weight_average_is_the_exponential_average_of_every_step():
    import torch

    from lrcn.train.levers import WeightAverage

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(model, 0.9)
    expect = model[0].weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(5):
        model(torch.randn(8, 3)).pow(2).sum().backward()
        opt.step()
        opt.zero_grad()
        avg.update()
        expect = 0.9 * expect + 0.1 * model[0].weight.detach()
    assert torch.allclose(avg.model[0].weight, expect, atol=1e-6)
    assert not torch.allclose(avg.model[0].weight, model[0].weight)  # an average, not a copy
    assert int(avg.model[1].num_batches_tracked) == 5  # counters follow the model
    assert not avg.model[1].running_mean.equal(torch.zeros(2))  # BatchNorm statistics are averaged too
    assert not any(p.requires_grad for p in avg.model.parameters())


def test_ema_run_keeps_and_tests_the_averaged_weights_and_resumes(tiny_data, tmp_path):
    """best.pt's model is the average (what export takes); last.pt also holds the trained weights,
    and --resume continues both, giving the same weights as one uninterrupted run."""
    import json

    import torch
    from conftest import tiny_configs, train_tiny
    from rich.console import Console

    from lrcn.train.run import train

    cache = tmp_path / "cache"
    whole = train_tiny(tiny_data, tmp_path / "whole", cache, epochs=3, ema=0.9)
    last = torch.load(whole / "last.pt", weights_only=True)
    assert set(last["model"]) == set(last["trained_model"])
    w = "encoder.fc.weight"
    assert not torch.equal(last["model"][w], last["trained_model"][w])
    assert json.loads((whole / "config.json").read_text())["train"]["ema"] == 0.9

    part = train_tiny(tiny_data, tmp_path / "part", cache, epochs=2, ema=0.9)
    train(*tiny_configs(tiny_data, tmp_path / "unused", cache), resume=str(part), epochs=3, console=Console(quiet=True))
    resumed = torch.load(part / "last.pt", weights_only=True)
    for key in ("model", "trained_model"):
        for name, t in last[key].items():
            assert torch.allclose(resumed[key][name].float(), t.float(), atol=1e-5), (key, name)


def test_flip_is_dropped_when_a_class_name_has_a_side():
    assert recipe.sided(["move_left", "SwipeRight", "turn-clockwise", "hug", "upright", "bright_flash"]) == [
        "move_left",
        "SwipeRight",
        "turn-clockwise",
    ]
    chosen = {"augment": "crop,temporal,flip", "epochs": 40}
    kept, why = recipe.without_flip(chosen, ["hug", "kick", "point"])
    assert kept == chosen and why == ""
    dropped, why = recipe.without_flip(chosen, ["grow", "move_down_right", "move_left"])
    assert dropped["augment"] == "crop,temporal" and dropped["epochs"] == 40
    assert "move_down_right, move_left" in why and "--augment crop,temporal,flip" in why
    assert recipe.without_flip({"augment": "flip"}, ["move_left"])[0]["augment"] == "none"
    assert recipe.without_flip({"augment": None}, ["move_left"]) == ({"augment": None}, "")


def test_class_counts_lists_only_the_used_folders(tmp_path):
    root = _folder(tmp_path, 6)
    (root / "empty").mkdir()
    assert recipe.class_counts(root) == {"c0": 3, "c1": 3}
    assert recipe.class_counts(root, classes=["c1"]) == {"c1": 3}
    assert recipe.class_counts(root, num_classes=1) == {"c0": 3}
    assert recipe.class_counts(tmp_path / "missing") == {}


@pytest.mark.parametrize(
    "key, choose, default, long, short, why",
    [
        ("frames", recipe.frames_for, "15", "15", "6", "frames 6: the median clip decodes 7 frames"),
        ("input", recipe.input_for, "diff", "diff", "rgb+diff", "input rgb+diff: the median clip decodes 7 frames"),
    ],
)
def test_auto_rules_change_only_for_clips_too_short_for_15_steps(key, choose, default, long, short, why):
    """frames: fit short clips without repeats; input: appearance beside motion. The image size stays 64
    (112 was measured for short clips: README "112 px on 7-frame clips")."""
    assert recipe.settings("small-real", {})[key] == "auto" and recipe.settings("default", {})[key] == default
    assert choose(recipe.Survey(shares=[1.0] * 3, frames=[16, 90, 200])) == (long, "")
    value, line = choose(recipe.Survey(shares=[1.0] * 3, frames=[7, 7, 9]))
    opt_out = {"frames": "--frames 15", "input": "--input diff"}[key]
    assert value == short and line.startswith(why) and opt_out in line
    assert choose(recipe.Survey(shares=[], frames=[])) == (long, "")  # nothing readable
    # one rule for "short" (Survey.short): both change together, at the same clip length
    for frames in ([15, 15, 15], [16, 16, 16]):
        found = recipe.Survey(shares=[1.0] * 3, frames=frames)
        assert (choose(found)[0] != long) == found.short == (frames[0] <= 15)


def test_auto_input_takes_a_moving_camera_out():
    long, short = [16, 90, 200], [7, 7, 9]
    still = recipe.Survey(shares=[1.0] * 3, frames=long, pans=[0.003, 0.019, 0.0])
    assert recipe.input_for(still) == ("diff", "")
    panning = recipe.Survey(shares=[1.0] * 3, frames=long, pans=[0.03, 0.025, 0.0])
    modality, why = recipe.input_for(panning)
    assert modality == "adiff" and why.startswith("input adiff: the median clip's camera moves 0.025")
    modality, why = recipe.input_for(recipe.Survey(shares=[1.0] * 3, frames=short, pans=[0.03] * 3))
    assert modality == "rgb+adiff" and why.startswith("input rgb+adiff: the median clip decodes 7 frames")
    assert "camera moves 0.030" in why and "--input rgb+diff keeps" in why
    assert recipe.input_for(recipe.Survey(shares=[1.0] * 3, frames=short, pans=[0.01] * 3))[0] == "rgb+diff"


def test_camera_motion_reads_the_pan_not_the_people():
    from test_align import scene

    def clip(pan: int) -> np.ndarray:
        return np.stack([np.repeat(scene(pan * t, 0, 8 + 3 * t)[:, :, None], 3, axis=2) for t in range(6)])

    assert recipe.camera_motion(clip(0)) < 0.002  # a person moves 3 px a step before a still camera
    assert abs(recipe.camera_motion(clip(2)) - 2 / 64) < 0.005  # the camera moves 2 px a step
    assert recipe.camera_motion(clip(0)[:1]) == 0.0
    repeated = np.repeat(clip(2), 3, axis=0)  # a short clip sampled with repeats: its steps are the distinct ones
    assert recipe.camera_motion(repeated) == recipe.camera_motion(clip(2))


def test_vc_train_says_which_frames_and_zoom_auto_chose(tiny_data, tmp_path):
    import re

    from typer.testing import CliRunner

    from lrcn.train.cli import app

    data = tiny_data  # clips of 12 frames
    args = ["--data", data, "--img-size", "32", "--epochs", "1", "--latent-dim", "8", "--hidden-size", "8"]
    args += ["--device", "cpu", "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache"]
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())  # the console wraps long lines
    assert "frames 11: the median clip decodes 12 frames" in out
    assert "input rgb+diff: the median clip decodes 12 frames" in out
    zoom = re.search(r"zoom (none|motion): the median clip moves within", out)
    assert zoom, out
    import json

    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data"]["num_frames"] == 11 and cfg["data"]["modality"] == "rgb+diff" and cfg["data"]["zoom"] == zoom[1]
    assert cfg["model"]["members"] == 3
    assert cfg["train"]["step_loss"] == float(recipe.settings("small-real", {})["step_loss"])
    # a head without steps trains without the recipe's per-step loss, rather than being refused;
    # without --img-size, small-real gives these 12-frame clips its 64 px
    args = ["--data", data, "--epochs", "1", "--latent-dim", "8", "--hidden-size", "8"]
    args += ["--pool", "mean", "--members", "1", "--frames", "4", "--device", "cpu"]
    args += ["--out", tmp_path / "mean", "--cache-dir", tmp_path / "cache"]
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    assert "img-size" not in " ".join(r.output.split())
    cfg = json.loads((tmp_path / "mean" / "config.json").read_text())
    assert cfg["train"]["step_loss"] == 0.0 and cfg["data"]["img_size"] == cfg["model"]["img_size"] == 64
    r = CliRunner().invoke(app, ["--data", data, "--input", "diff,auto", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--input auto is read from the clips once" in r.output
