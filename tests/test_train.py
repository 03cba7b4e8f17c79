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
    from rich.console import Console

    from conftest import tiny_configs
    from lrcn.train.run import train

    resumed = train(*tiny_configs(tiny_data, part, tmp_path / "cache"), resume=str(part), epochs=3,
                    console=Console(quiet=True))
    assert resumed == part
    history = json.loads((part / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    a, b = weights(straight), weights(part)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5, msg=k)


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
    run = train_tiny(root, tmp_path / "run", tmp_path / "cache", epochs=1)
    skipped = json.loads((run / "skipped.json").read_text())
    assert sorted(s["path"].rsplit("/", 1)[1] for s in skipped) == ["corrupt.mp4", "empty.avi"]
    assert all(s["reason"] for s in skipped)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["skipped_files"] == 2
    assert metrics["num_train"] + metrics["num_val"] + metrics["num_test"] == len(files)
