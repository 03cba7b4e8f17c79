import numpy as np
import pytest

from lrcn.train import data as D
from lrcn.train.config import DataConfig


def make_tree(root, spec):
    for cls, names in spec.items():
        (root / cls).mkdir(parents=True)
        for n in names:
            (root / cls / n).write_bytes(b"x")
    return root


def ucf_names(cls, groups, clips=2):
    return [f"v_{cls}_g{g:02d}_c{c:02d}.avi" for g in range(1, groups + 1) for c in range(1, clips + 1)]


def test_discover_sorted_classes_and_subsets(tmp_path):
    root = make_tree(tmp_path, {"b": ["x.mp4"], "a": ["y.avi", "notes.txt"], "c": ["z.gif"], "empty": []})
    names, samples = D.discover(DataConfig(root=str(root)))
    assert names == ["a", "b", "c"] and len(samples) == 3
    names, _ = D.discover(DataConfig(root=str(root), num_classes=2))
    assert names == ["a", "b"]
    names, samples = D.discover(DataConfig(root=str(root), classes=["c", "a"]))
    assert names == ["a", "c"] and {s.label for s in samples} == {0, 1}
    with pytest.raises(D.DatasetError, match="no class folder zz"):
        D.discover(DataConfig(root=str(root), classes=["zz", "a"]))


def test_folder_without_classes_is_refused(tmp_path):
    (tmp_path / "loose.avi").write_bytes(b"x")
    with pytest.raises(D.DatasetError, match="at least 2 class folders"):
        D.discover(DataConfig(root=str(tmp_path)))


def test_group_aware_split_never_straddles_and_is_deterministic(tmp_path):
    root = make_tree(tmp_path, {c: ucf_names(c, 10) for c in ("Jump", "Run", "Swim")})
    cfg = DataConfig(root=str(root))
    _, a = D.make_splits(cfg, seed=0)
    _, b = D.make_splits(cfg, seed=0)
    assert a == b
    groups = {k: {s.group for s in v} for k, v in a.items()}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])
    assert not (groups["val"] & groups["test"])
    for split in ("val", "test"):  # every class is represented
        assert {s.label for s in a[split]} == {0, 1, 2}
    _, c = D.make_splits(cfg, seed=1)
    assert c != a


def test_official_split_files(tmp_path):
    root = make_tree(tmp_path / "data", {c: ucf_names(c, 6) for c in ("Jump", "Run")})
    split = tmp_path / "splits"
    split.mkdir()
    (split / "classInd.txt").write_text("1 Jump\n2 Run\n")
    test = [f"{c}/v_{c}_g01_c01.avi" for c in ("Jump", "Run")] + [f"{c}/v_{c}_g01_c02.avi" for c in ("Jump", "Run")]
    train = [f"{c}/{n} {i}" for i, c in enumerate(("Jump", "Run"), 1) for n in ucf_names(c, 6)[2:]]
    (split / "testlist01.txt").write_text("\n".join(test) + "\n")
    (split / "trainlist01.txt").write_text("\n".join(train) + "\n")
    _, s = D.make_splits(DataConfig(root=str(root), split_dir=str(split)), seed=0)
    assert len(s["test"]) == 4 and all("_g01_" in x.path for x in s["test"])
    assert len(s["train"]) + len(s["val"]) == 20 and s["val"]
    with pytest.raises(D.DatasetError, match="testlist02"):
        D.make_splits(DataConfig(root=str(root), split_dir=str(split), split=2), seed=0)


def test_clip_cache_decodes_once(tiny_data, tmp_path, monkeypatch):
    cfg = DataConfig(root=str(tiny_data), num_frames=4, img_size=24, cache_dir=str(tmp_path))
    _, samples = D.discover(cfg)
    first = D.cache_clip(samples[0], 4, cfg)
    frames = D.load_cached(first)
    assert frames.shape == (4, 24, 24, 3) and frames.dtype == np.uint8

    def boom(*a, **k):
        raise AssertionError("decoded twice")

    monkeypatch.setattr(D, "read_clip", boom)
    again = D.cache_clip(samples[0], 4, cfg)
    np.testing.assert_array_equal(D.load_cached(again), frames)


def test_unreadable_files_are_skipped_with_reason(tiny_data, tmp_path):
    cfg = DataConfig(root=str(tiny_data), num_frames=4, img_size=24, cache_dir=str(tmp_path))
    _, samples = D.discover(cfg)
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"\x00" * 100)
    ok, skipped = D.cache_split([samples[0], D.Sample(str(bad), 0, "g")], 4, cfg)
    assert len(ok) == 1 and len(skipped) == 1
    assert skipped[0]["path"] == str(bad) and "broken.avi" in skipped[0]["reason"]


def test_synth_files_do_not_depend_on_worker_count(tmp_path):
    from lrcn.train.synth import SynthConfig, make_dataset

    cfg = SynthConfig(classes=2, clips_per_class=5, frames=4, size=32, seed=7)
    serial = make_dataset(tmp_path / "a", cfg, workers=1)
    parallel = make_dataset(tmp_path / "b", cfg, workers=2)
    assert [p.relative_to(tmp_path / "a") for p in serial] == [p.relative_to(tmp_path / "b") for p in parallel]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(serial, parallel))
    other = make_dataset(
        tmp_path / "c", SynthConfig(classes=2, clips_per_class=5, frames=4, size=32, seed=8), workers=1
    )
    assert serial[0].read_bytes() != other[0].read_bytes()
