"""Training behaviour on tiny data: the feature cache is exact, resume is exact."""

import json

import pytest
import torch
from conftest import train_tiny


def weights(run, name="last.pt"):
    return torch.load(run / name, map_location="cpu", weights_only=True)["model"]


@pytest.mark.slow
def test_feature_cache_equals_running_the_backbone(tiny_data, tmp_path, resnet18_weights):
    kw = dict(model="pretrained", epochs=2, backbone_weights=str(resnet18_weights))
    cached = train_tiny(tiny_data, tmp_path / "cached", tmp_path / "cache", **kw)
    direct = train_tiny(tiny_data, tmp_path / "direct", tmp_path / "cache", feature_cache=False, **kw)
    assert (tmp_path / "cache" / "features").is_dir()
    a, b = weights(cached), weights(direct)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4, msg=k)
    ma = json.loads((cached / "metrics.json").read_text())
    mb = json.loads((direct / "metrics.json").read_text())
    assert abs(ma["test_loss"] - mb["test_loss"]) < 1e-4


@pytest.mark.slow
def test_resume_continues_to_the_same_weights(tiny_data, tmp_path):
    straight = train_tiny(tiny_data, tmp_path / "straight", tmp_path / "cache", epochs=3)
    part = train_tiny(tiny_data, tmp_path / "part", tmp_path / "cache", epochs=1)
    from conftest import tiny_configs
    from rich.console import Console

    from lrcn.train.run import train

    resumed = train(
        *tiny_configs(tiny_data, part, tmp_path / "cache"), resume=str(part), epochs=3, console=Console(quiet=True)
    )
    assert resumed == part
    history = json.loads((part / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    a, b = weights(straight), weights(part)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5, msg=k)
    # Same final metrics. Per-epoch seeds, the saved optimizer/scheduler state and discarding an
    # unfinished epoch make resume replay the same arithmetic (bit-identical on this CPU); the 1e-6
    # allows only float32 reductions that change order with another thread count or device.
    ma = json.loads((straight / "metrics.json").read_text())
    mb = json.loads((part / "metrics.json").read_text())
    for key in ("test_loss", "val_loss", "train_loss"):
        assert abs(ma[key] - mb[key]) <= 1e-6, (key, ma[key], mb[key])
    for key in ("test_accuracy", "val_accuracy", "train_accuracy", "best_epoch", "epochs"):
        assert ma[key] == mb[key], key


@pytest.mark.slow
def test_real_mixed_videos_train_and_corrupt_files_are_listed(shared_videos, tmp_path):
    """Mixed codecs, sizes and frame rates from ../shared/data/videos, plus broken files."""
    files = sorted(shared_videos.iterdir())
    root = tmp_path / "real"
    for i, f in enumerate(files):
        d = root / ("a" if i % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        (d / f.name).symlink_to(f)
    (root / "a" / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 5000)
    (root / "b" / "empty.avi").write_bytes(b"")
    (root / "a" / "notes.avi").write_text("a text file named like a video\n" * 20)
    (root / "b" / "folder.mkv").mkdir()  # a directory named like a video
    chaplin = (shared_videos / "chaplin_h264.mp4").read_bytes()
    (root / "b" / "first tenth ü.mp4").write_bytes(chaplin[: len(chaplin) // 10])  # its index is at the end
    import cv2

    cv2.VideoWriter(str(root / "a" / "zero-frames.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 32)).release()
    bad = ["corrupt.mp4", "empty.avi", "first tenth ü.mp4", "folder.mkv", "notes.avi", "zero-frames.avi"]
    run = train_tiny(root, tmp_path / "run", tmp_path / "cache", epochs=1)
    skipped = json.loads((run / "skipped.json").read_text())
    assert sorted(s["path"].rsplit("/", 1)[1] for s in skipped) == bad
    assert all(s["reason"].startswith(s["path"] + ": ") and "\n" not in s["reason"] for s in skipped)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["skipped_files"] == len(bad)
    assert metrics["num_train"] + metrics["num_val"] + metrics["num_test"] == len(files)


def test_empty_val_or_test_split_is_warned_about():
    from lrcn.train.run import split_warnings

    assert split_warnings({"train": 24, "val": 3, "test": 3}) == []
    assert split_warnings({"train": 24, "val": 0, "test": 3}, select="last") == []  # nothing is chosen on val
    both = split_warnings({"train": 24, "val": 0, "test": 0})
    assert len(both) == 2 and both[0].startswith("no validation clips: the best checkpoint is chosen on training loss")
    assert "3 or more groups" in both[0] and both[1] == "no test clips: metrics.json will have no test accuracy"
    assert "3 or more groups" in split_warnings({"train": 24, "val": 3, "test": 0})[0]
    assert split_warnings({"train": 24, "val": 0, "test": 3}, skipped=2)[0].endswith(
        "(see splits.json and skipped.json)"
    )
    assert split_warnings({"train": 24, "val": 0, "test": 3}, group_split=False)[0].endswith("(see splits.json)")
