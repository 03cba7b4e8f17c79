"""Ensembles (--members N): the mean of the members' probabilities, members that learn as if alone,
and an export whose window and step streams reproduce the model."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import tiny_configs
from typer.testing import CliRunner

from lrcn.models.config import ModelConfig
from lrcn.models.registry import build_model


def small(members: int, **kw) -> ModelConfig:
    return ModelConfig(num_classes=4, img_size=32, latent_dim=8, hidden_size=6, members=members, dropout=0.0, **kw)


def test_prediction_is_the_mean_of_the_members_probabilities():
    torch.manual_seed(0)
    model = build_model(small(3)).eval()
    x = torch.randn(2, 5, 3, 32, 32)
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m, -1) for m in model.member_logits(x)]).mean(0)
        np.testing.assert_allclose(torch.softmax(model(x), -1).numpy(), mean.numpy(), atol=1e-6)
        # each member is its own LRCN: different starting weights, different predictions
        a, b = model.member_logits(x)[:2]
        assert not torch.allclose(a, b)


def test_steps_from_zero_state_equal_the_whole_clip():
    torch.manual_seed(1)
    model = build_model(small(2, lstm_layers=2)).eval()
    x = torch.randn(3, 6, 3, 32, 32)
    with torch.no_grad():
        h = c = torch.zeros(2, 3, model.cfg.state_width)
        for t in range(6):
            logits, h, c = model.head.step(model.encode(x[:, t]), h, c)
        assert model.encode(x[:, 0]).shape == (3, model.cfg.feature_width) == (3, 16)
        torch.testing.assert_close(torch.softmax(logits, -1), torch.softmax(model(x), -1), atol=1e-6, rtol=0)


def test_each_member_learns_as_if_trained_alone():
    from lrcn.train.loop import train_one_epoch

    torch.manual_seed(2)
    ens = build_model(small(2))
    alone = build_model(small(1))
    alone.encoder.load_state_dict(ens.encoder.members[0].state_dict())
    alone.head.load_state_dict(ens.head.members[0].state_dict())
    x, y = torch.randn(4, 3, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    sgd = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (ens, alone)]
    for model, opt in zip((ens, alone), sgd, strict=True):
        train_one_epoch(model, [(x, y)], opt, torch.device("cpu"))
    torch.testing.assert_close(ens.encoder.members[0].state_dict(), alone.encoder.state_dict())
    torch.testing.assert_close(ens.head.members[0].state_dict(), alone.head.state_dict())


@pytest.mark.parametrize(
    ("kw", "said"),
    [
        ({"members": 0}, "members must be an integer from 1 to 8"),
        ({"members": 9}, "members must be an integer from 1 to 8"),
        ({"members": 2, "name": "pretrained"}, "frozen backbone that members would share"),
        # what the runtime would refuse to run is refused at training: widths of all members together
        ({"members": 8, "latent_dim": 8193}, r"latent_dim x members must be <= 65536 .*got 65544"),
        ({"members": 2, "hidden_size": 32769}, r"hidden_size x members must be <= 65536 .*got 65538"),
        ({"latent_dim": 65537}, r"latent_dim x members must be <= 65536"),
    ],
)
def test_bad_member_counts_are_refused(kw, said):
    with pytest.raises(ValueError, match=said):
        ModelConfig(**kw)


@pytest.fixture(scope="module")
def ensemble_export(tiny_data, tmp_path_factory):
    from rich.console import Console

    from lrcn.export.pipeline import export_run
    from lrcn.train.run import train

    base = tmp_path_factory.mktemp("ensemble")
    mc, dc, tc = tiny_configs(tiny_data, base / "run", base / "cache", epochs=1)
    run = train(dataclasses.replace(mc, members=2), dc, tc, console=Console(quiet=True))
    return run, export_run(run, base / "models" / "convlstm.onnx", precisions=("int8",)).model


def test_exported_ensemble_runs_and_streams_like_the_trained_one(ensemble_export, tiny_data):
    from lrcn.models.checkpoint import model_from_checkpoint
    from lrcn.runtime import VideoClassifier

    run, onnx_path = ensemble_export
    assert json.loads((run / "config.json").read_text())["model"]["members"] == 2
    clf = VideoClassifier(onnx_path, device="cpu")
    assert (clf.meta.extra["members"], clf.meta.latent_dim, clf.meta.hidden_size) == (2, 32, 24)
    model, _ = model_from_checkpoint(run / "best.pt")
    video = sorted(tiny_data.rglob("*.avi"))[0]
    for stateful in (False, True):
        preds = [p for p in clf.stream(video, sample_fps=0, keep_window=True, stateful=stateful) if p.ready]
        for p in preds[:1] if stateful else preds:  # the step equals the window from zero state only
            np.testing.assert_allclose(p.probs, clf.probs_from_frames(p.window), atol=1e-5)
    frames = preds[0].window
    from lrcn.runtime.preprocess import prepare_clip

    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(prepare_clip(frames, clf.meta.preprocess))[None]), -1)
    np.testing.assert_allclose(clf.probs_from_frames(frames), want.numpy()[0], atol=1e-5)
    int8 = VideoClassifier(onnx_path.parent / "convlstm.int8.onnx", device="cpu")  # gated like one model
    assert int8.meta.precision == "int8" and int8.meta.hidden_size == 24
    assert abs(int8.probs_from_frames(frames) - want.numpy()[0]).max() < 0.2


def test_inspect_names_the_members(ensemble_export):
    from lrcn.export.inspect_cli import app

    out = CliRunner().invoke(app, [str(ensemble_export[1]), "--summary-only"])
    assert out.exit_code == 0, out.output
    assert "(2 members side by side)" in out.output


def test_the_recipes_ensemble_goes_only_to_families_trained_whole():
    from lrcn.train.config import DataConfig, TrainConfig
    from lrcn.train.recipe import members_for
    from lrcn.train.sweep import expand

    assert (members_for("convlstm", 3, True), members_for("pretrained", 3, True)) == (3, 1)
    assert members_for("pretrained", 3, from_recipe=False) == 3  # given: ModelConfig refuses it in one line
    runs = expand(small(3), DataConfig(), TrainConfig(), {"model": ["convlstm", "pretrained"]}, recipe_members=3)
    assert [(r.model.name, r.model.members) for r in runs] == [("convlstm", 3), ("pretrained", 1)]
