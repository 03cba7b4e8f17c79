"""Group k-fold and split control: folds are group-disjoint and cover every clip exactly once."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrcn.train.config import DataConfig
from lrcn.train.data import Sample, make_splits, split_groups
from lrcn.train.folds import assign_folds, fold_group, fold_split

UT = Path(os.environ.get("LRCN_UT_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data" / "ut-interaction")


def _samples(groups: int = 7, classes: int = 3) -> list[Sample]:
    out = []
    for c in range(classes):
        for g in range(1, groups + 1):
            for k in range(1 + (g + c) % 3):  # uneven group sizes
                out.append(Sample(f"/d/c{c}/v_c{c}_g{g:02d}_c{g * 10 + k:03d}.avi", c, f"c{c}/g{g:02d}"))
    out.append(Sample("/d/c0/odd_name.avi", 0, "c0/odd_name"))  # a group of its own
    return out


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_folds_are_group_disjoint_and_cover_every_clip_once(k):
    samples = _samples()
    cfg = DataConfig(root="/d", folds=k, fold=0, val_fraction=0.2)
    tested = []
    for i in range(k):
        split = fold_split(samples, DataConfig(root="/d", folds=k, fold=i, val_fraction=0.2), seed=3)
        assert sorted(s.path for v in split.values() for s in v) == sorted(s.path for s in samples)
        groups = {name: {fold_group(s) for s in v} for name, v in split.items()}
        assert not groups["test"] & groups["train"] and not groups["test"] & groups["val"]
        assert not groups["train"] & groups["val"]
        assert split["train"] and split["test"]
        tested += [s.path for s in split["test"]]
    assert sorted(tested) == sorted(s.path for s in samples)  # every clip tested exactly once
    assert cfg.folds == k


def test_fold_groups_cross_classes_and_leave_one_out():
    samples = _samples()
    assert fold_group(samples[0]) == "g01" and fold_group(samples[-1]) == "c0/odd_name"
    folds = assign_folds(samples, 8, seed=0)  # 7 numbered groups + the odd file = 8: leave one group out
    assert sorted(len(f) for f in folds) == [1] * 8
    assert assign_folds(samples, 3, seed=1) == assign_folds(samples, 3, seed=1)
    with pytest.raises(ValueError, match="2 to 8 folds"):
        assign_folds(samples, 9, seed=0)


def test_split_fractions_and_test_folder(tmp_path):
    samples = _samples(groups=10)
    none = split_groups(samples, DataConfig(root="/d", val_fraction=0.3, test_fraction=0.0), seed=0)
    assert not none["test"] and none["val"] and none["train"]
    more = split_groups(samples, DataConfig(root="/d", val_fraction=0.1, test_fraction=0.4), seed=0)
    assert len(more["test"]) > len(more["val"])
    with pytest.raises(ValueError, match="val_fraction"):  # the library's name; vc-train says --val-frac
        DataConfig(val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ValueError, match="folds must be >= 2"):
        DataConfig(folds=1)
    for root in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / root / cls).mkdir(parents=True)
            for g in (1, 2, 3):
                (tmp_path / root / cls / f"v_{cls}_g{g:02d}_c001.avi").write_bytes(b"x")
    names, splits = make_splits(
        DataConfig(root=str(tmp_path / "train"), test_root=str(tmp_path / "test"), test_fraction=0.0), seed=0
    )
    assert names == ["a", "b"] and len(splits["test"]) == 6
    assert all(str(tmp_path / "test") in s.path for s in splits["test"])
    assert len(splits["train"]) + len(splits["val"]) == 6
    (tmp_path / "test" / "c").mkdir()
    (tmp_path / "test" / "c" / "x.avi").write_bytes(b"x")
    with pytest.raises(Exception, match="not a training class"):
        make_splits(DataConfig(root=str(tmp_path / "train"), test_root=str(tmp_path / "test"), test_fraction=0), 0)


@pytest.mark.slow  # real-time waits or a real training run: out of make test-fast
def test_vc_train_folds_end_to_end_and_vc_report(tiny_data, tmp_path):
    """--folds 2 on the tiny set: two fold runs, a final model, the summary, and vc-report shows it."""
    import json

    from lrcn.train.cli import app
    from lrcn.train.report_cli import app as report_app

    out = tmp_path / "folds"
    args = [
        "--data",
        str(tiny_data),
        "--folds",
        "2",
        "--img-size",
        "32",
        "--frames",
        "4",
        "--latent-dim",
        "16",
        "--hidden-size",
        "12",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "recipe small-real" in r.output and "2-fold test accuracy" in r.output
    # each fold's line gives its accuracy to 3 places (a float32 printed whole read 0.2916666567325592)
    assert len(re.findall(r"^test accuracy \d\.\d{3}  \(best epoch", r.output, re.M)) == 2, r.output
    s = json.loads((out / "folds.json").read_text())
    assert s["finished"] == 2 and s["num_test"] == 36 and s["final"] == str(out / "final")
    assert sum(map(sum, s["confusion"])) == 36 and set(s["per_class_accuracy"]) == {
        "grow",
        "move_down",
        "move_down_right",
    }
    tested = [json.loads((out / f"fold-{i}" / "splits.json").read_text())["test"] for i in (1, 2)]
    paths = [t["path"] for fold in tested for t in fold]
    assert len(paths) == len(set(paths)) == 36
    cfg = json.loads((out / "fold-1" / "config.json").read_text())
    assert cfg["train"]["recipe"] == "small-real" and cfg["data"]["img_size"] == 32
    # the recipe reached the run: its flip dropped for move_down_right, every non-test clip trains
    assert "flip off: class names say left or right (move_down_right)" in r.output
    assert cfg["data"]["augment"] == ["crop", "temporal"] and cfg["data"]["val_fraction"] == 0.0
    assert (cfg["train"]["epochs"], cfg["train"]["select"]) == (1, "last")  # --epochs given wins
    rep = CliRunner().invoke(report_app, [str(out)])
    assert rep.exit_code == 0, rep.output
    assert "2-fold test accuracy" in rep.output and (out / "folds.md").is_file()


@pytest.mark.slow
def test_folds_on_a_few_real_clips(tmp_path):
    """Two UT-Interaction sequences (12 real clips) at a tiny size: leave-one-sequence-out runs end to end."""
    if not UT.is_dir():
        pytest.skip(f"{UT} not present")
    from lrcn.train.cli import app

    data = tmp_path / "ut"
    for cls in sorted(p.name for p in UT.iterdir() if p.is_dir()):
        (data / cls).mkdir(parents=True)
        for f in sorted((UT / cls).glob("v_*_g0[12]_*.avi")):
            (data / cls / f.name).symlink_to(f)  # links, never copies
    out = tmp_path / "run"
    r = CliRunner().invoke(
        app,
        [
            "--data",
            str(data),
            "--folds",
            "2",
            "--no-final",
            "--img-size",
            "32",
            "--frames",
            "4",
            "--latent-dim",
            "16",
            "--hidden-size",
            "12",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (out / "folds.json").is_file() and not (out / "final").exists()
