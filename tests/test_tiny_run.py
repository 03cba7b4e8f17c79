"""The run-folder contract, end to end on a tiny dataset."""

import json

import torch

RUN_FILES = [
    "config.json",
    "splits.json",
    "best.pt",
    "last.pt",
    "history.json",
    "metrics.json",
    "per_class.json",
    "skipped.json",
    "curves.png",
    "confusion.png",
]
METRIC_KEYS = [
    "test_accuracy",
    "test_loss",
    "val_accuracy",
    "train_accuracy",
    "epochs",
    "train_seconds",
    "num_train",
    "num_val",
    "num_test",
    "skipped_files",
]


def test_run_folder_contract(tiny_run):
    for name in RUN_FILES:
        assert (tiny_run / name).is_file(), name
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for key in METRIC_KEYS:
        assert key in metrics, key
    assert metrics["epochs"] == 2 and metrics["num_train"] > 0 and metrics["num_test"] > 0
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["class_names"] == ["grow", "move_down", "move_down_right"]
    assert config["preprocess"]["num_frames"] == 4 and config["preprocess"]["img_size"] == 32
    assert config["preprocess"]["sample_fps"] > 0
    history = json.loads((tiny_run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert {"train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr", "seconds"} <= set(history[0])


def test_checkpoints_are_plain_data(tiny_run):
    for name in ("best.pt", "last.pt"):
        ck = torch.load(tiny_run / name, map_location="cpu", weights_only=True)
        assert {"model", "optimizer", "scheduler", "epoch", "config", "version"} <= set(ck)
    assert torch.load(tiny_run / "last.pt", weights_only=True)["epoch"] == 2
