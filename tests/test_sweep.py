"""Sweeps: comma lists expand into a grid of distinct run folders, then one report over them."""

import json
from dataclasses import replace

import pytest
from conftest import tiny_configs
from typer.testing import CliRunner

from lrcn.train.report import compare, fmt, load_runs
from lrcn.train.sweep import SweepRun, expand, parse_lists, run_name

runner = CliRunner()


def train_app():
    from lrcn.train.cli import app

    return app


def test_parse_lists_types_order_and_repeats():
    lists = parse_lists({"lr": "2e-5, 2e-4,2e-5", "frames": "15,20", "input": "rgb,rgb+diff", "model": "convlstm"})
    assert lists == {"lr": [2e-5, 2e-4], "frames": [15, 20], "input": ["rgb", "rgb+diff"], "model": ["convlstm"]}
    with pytest.raises(ValueError, match="--frames takes an integer or a comma list"):
        parse_lists({"frames": "15,twenty"})
    with pytest.raises(ValueError, match="--lr needs a value"):
        parse_lists({"lr": ","})


def test_run_names_show_the_swept_options_only():
    lists = {"model": ["convlstm"], "lr": [2e-5, 2e-4], "frames": [15, 20], "hidden_size": [128]}
    assert (
        run_name({"model": "convlstm", "lr": 2e-5, "frames": 15, "hidden_size": 128}, lists)
        == "convlstm-lr2e-05-frames15"
    )


def test_expand_grid_into_validated_configs(tmp_path):
    mc, dc, tc = tiny_configs(tmp_path, tmp_path / "out", tmp_path / "cache")
    runs = expand(mc, dc, tc, parse_lists({"model": "convlstm,resnetlstm", "lr": "1e-3,1e-2", "img_size": "32,48"}))
    assert len(runs) == 8 and len({r.name for r in runs}) == 8
    assert runs[0].name == "convlstm-lr0.001-img32" and runs[-1].name == "resnetlstm-lr0.01-img48"
    last = runs[-1]
    assert (last.model.name, last.train.lr, last.data.img_size, last.model.img_size) == ("resnetlstm", 1e-2, 48, 48)
    assert runs[0].model.hidden_size == mc.hidden_size  # options not swept keep the base value
    with pytest.raises(ValueError, match="^img_size must be >= 16"):  # the library's name; vc-train says --img-size
        expand(mc, dc, tc, parse_lists({"img_size": "32,8"}))
    # values that print alike still get their own folders
    alike = expand(mc, dc, tc, {"lr": [1e-3, 1.0000001e-3]})
    assert len({r.name for r in alike}) == 2


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--lr", "1e-3,fast"], "--lr takes a number or a comma list"),
        (["--frames", "4,0"], "--frames must be >= 1"),
        (["--model", "convlstm,vgglstm"], "unknown model 'vgglstm'"),
        (["--lr", "1e-3,1e-2", "--resume", "somewhere"], "--resume continues one run; drop the comma lists (lr)"),
    ],
)
def test_vc_train_refuses_bad_sweeps_before_work(tmp_path, args, needle):
    result = runner.invoke(train_app(), ["--data", str(tmp_path), "--out", str(tmp_path / "sweep"), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert not (tmp_path / "sweep").exists()


@pytest.mark.slow
def test_2x2_sweep_report_equals_each_runs_metrics(tiny_data, tmp_path):
    """The acceptance test: lr x frames on tiny data, one folder per run, a table equal to metrics.json."""
    from rich.console import Console

    from lrcn.train.sweep import run_sweep

    mc, dc, tc = tiny_configs(tiny_data, tmp_path / "unused", tmp_path / "cache", epochs=1)
    runs = expand(mc, dc, tc, parse_lists({"model": "convlstm", "lr": "3e-3,1e-2", "frames": "4,5"}))
    done = run_sweep(runs, tmp_path / "sweep", Console(quiet=True))
    names = [
        "convlstm-lr0.003-frames4",
        "convlstm-lr0.003-frames5",
        "convlstm-lr0.01-frames4",
        "convlstm-lr0.01-frames5",
    ]
    assert [p.name for p in done] == names
    for name in names:
        assert (tmp_path / "sweep" / name / "report.html").is_file()
        config = json.loads((tmp_path / "sweep" / name / "config.json").read_text())
        assert f"lr{config['train']['lr']:g}-frames{config['data']['num_frames']}" in name
    assert (tmp_path / "sweep" / "report.md").is_file() and (tmp_path / "sweep" / "report.html").is_file()

    cmp = compare(load_runs(done))
    assert cmp.columns[:2] == ["frames", "lr"]
    for run, row in zip(cmp.runs, cmp.rows()):
        metrics = json.loads((run.path / "metrics.json").read_text())
        for key in (
            "test_accuracy",
            "test_loss",
            "train_accuracy",
            "train_loss",
            "val_accuracy",
            "val_loss",
            "train_seconds",
            "epochs",
            "best_epoch",
        ):
            assert row[key] == metrics[key], (run.name, key)
    md = (tmp_path / "sweep" / "report.md").read_text()
    html = (tmp_path / "sweep" / "report.html").read_text()
    for run in cmp.runs:
        metrics = json.loads((run.path / "metrics.json").read_text())
        cells = [fmt(k, metrics[k]) for k in ("test_accuracy", "test_loss", "train_accuracy", "train_loss")]
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| {run.name}") or ln.startswith(f"| **{run.name}"))
        assert all(c in line for c in cells), (line, cells)
        assert all(f'<td class="num">{c}</td>' in html for c in cells)


def test_sweep_goes_on_past_a_failed_run_and_fails_at_the_end(tmp_path, monkeypatch):
    from rich.console import Console

    import lrcn.train.report_write as report
    import lrcn.train.run as run_mod
    from lrcn.core.errors import LrcnError
    from lrcn.train import sweep

    mc, dc, tc = tiny_configs(tmp_path, tmp_path / "o", tmp_path / "c")
    runs = [SweepRun("a", mc, dc, tc), SweepRun("b", mc, dc, replace(tc, lr=1.0)), SweepRun("c", mc, dc, tc)]
    trained = []

    def fake_train(m, d, t, console=None):
        if t.lr == 1.0:
            raise LrcnError("diverged")
        trained.append(t.out)
        return tmp_path / t.out

    monkeypatch.setattr(run_mod, "train", fake_train)
    monkeypatch.setattr(report, "write_report", lambda paths, out: [])
    with pytest.raises(LrcnError, match="1 of 3 sweep runs failed: b"):
        sweep.run_sweep(runs, tmp_path / "s", Console(quiet=True))
    assert trained == [str(tmp_path / "s" / "a"), str(tmp_path / "s" / "c")]
