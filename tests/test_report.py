"""vc-report: the comparison table, run discovery, offline HTML, and the per-run report.html."""

import itertools
import json
import re
import subprocess
import sys

import pytest
from conftest import REPO
from report_fakes import fake_run, fake_sweep
from typer.testing import CliRunner

from lrcn.train.report import ReportError, compare, find_runs, fmt, load_runs

runner = CliRunner()


def report_app():
    from lrcn.train.report_cli import app

    return app


def md_table(text: str) -> list[dict]:
    """The first markdown table as dicts of cell text, bold and the best-run star stripped."""
    all_lines = text.splitlines()
    start = next(i for i, ln in enumerate(all_lines) if ln.startswith("|"))
    lines = list(itertools.takewhile(lambda ln: ln.startswith("|"), all_lines[start:]))
    cells = [[c.strip().strip("*").removesuffix(" ★").strip("*") for c in ln.strip("|").split("|")] for ln in lines]
    return [dict(zip(cells[0], row)) for row in cells[2:]]


def test_table_holds_differing_params_and_every_result(tmp_path):
    cmp = compare(load_runs(fake_sweep(tmp_path)))
    assert cmp.columns[:2] == ["frames", "lr"]  # only what differs; model, img size... go to "same in all runs"
    assert {
        "test_accuracy",
        "test_loss",
        "train_accuracy",
        "train_loss",
        "val_accuracy",
        "val_loss",
        "train_seconds",
        "epochs",
        "best_epoch",
    } <= set(cmp.columns)
    assert "model" not in cmp.columns and cmp.shared["model"] == "convlstm" and cmp.shared["num_test"] == 6
    assert [r.value("test_accuracy") for r in cmp.runs] == sorted(
        (r.value("test_accuracy") for r in cmp.runs), reverse=True
    )
    assert cmp.best == 0 and cmp.runs[0].name == "convlstm-lr0.001-frames20"
    by_loss = compare(cmp.runs, sort="train_seconds")
    assert by_loss.runs[by_loss.best].name == "convlstm-lr0.001-frames20"  # best stays by accuracy for time


def test_sort_by_a_parameter_and_a_loss(tmp_path):
    runs = load_runs(fake_sweep(tmp_path))
    assert [r.value("lr") for r in compare(runs, "lr").runs] == [1e-4, 1e-4, 1e-3, 1e-3]
    by_loss = compare(runs, "test_loss")
    assert [r.value("test_loss") for r in by_loss.runs] == sorted(r.value("test_loss") for r in runs)
    with pytest.raises(ValueError, match="--sort 'acc': choose one of"):
        compare(runs, "acc")


def test_cli_report_numbers_equal_metrics_json(tmp_path):
    runs = fake_sweep(tmp_path / "sweep", pngs=False)
    result = runner.invoke(report_app(), [str(tmp_path / "sweep" / "*"), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    table = md_table((tmp_path / "rep" / "report.md").read_text())
    assert len(table) == 4
    for row in table:
        metrics = json.loads((tmp_path / "sweep" / row["run"] / "metrics.json").read_text())
        assert row["test acc"] == fmt("test_accuracy", metrics["test_accuracy"])
        assert float(row["train acc"]) == pytest.approx(metrics["train_accuracy"], abs=5e-5)
        assert float(row["time (s)"]) == pytest.approx(metrics["train_seconds"], abs=0.05)
        assert int(row["epochs"]) == metrics["epochs"]
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count("class=best") == 1 and "★ best" in html
    assert len(runs) == 4


def test_find_runs_expands_globs_and_sweep_folders(tmp_path):
    runs = fake_sweep(tmp_path / "sweep")
    (tmp_path / "sweep" / "unfinished").mkdir()  # a run without metrics.json is not reported
    resolved = sorted(p.resolve() for p in runs)
    assert sorted(find_runs([str(tmp_path / "sweep" / "*")])) == resolved
    assert sorted(find_runs([str(tmp_path / "sweep")])) == resolved
    assert find_runs([str(runs[0]), str(runs[0])]) == [runs[0].resolve()]
    with pytest.raises(ReportError, match="no such run folder"):
        find_runs([str(tmp_path / "nope*")])
    with pytest.raises(ReportError, match="no metrics.json"):
        find_runs([str(tmp_path / "sweep" / "unfinished")])


def test_cli_errors_are_one_line(tmp_path):
    fake_run(tmp_path / "a")
    bad = runner.invoke(report_app(), [str(tmp_path / "missing")])
    assert bad.exit_code == 1 and "no such run folder" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(report_app(), [str(tmp_path / "a"), "--sort", "speed"])
    assert bad.exit_code == 2 and "--sort 'speed'" in bad.output


def test_same_names_in_two_places_stay_apart(tmp_path):
    runs = load_runs([fake_run(tmp_path / "x" / "run"), fake_run(tmp_path / "y" / "run")])
    assert [r.name for r in runs] == ["x/run", "y/run"]


def test_html_is_self_contained(tmp_path):
    fake_sweep(tmp_path / "sweep", pngs=True)
    result = runner.invoke(report_app(), [str(tmp_path / "sweep")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "sweep" / "report.html").read_text()
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) == 1 + 2 * 4  # the overlay, then curves and confusion per run
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<script" not in html and "<link" not in html and "http://" not in html and "https://" not in html
    md = (tmp_path / "sweep" / "report.md").read_text()
    assert "](convlstm-lr0.001-frames20/curves.png)" in md and "](compare.png)" in md


def test_per_run_report_written_by_training(tiny_run):
    html = (tiny_run / "report.html").read_text()
    for heading in (
        "Results",
        "Curves and confusion matrix",
        "Per-class accuracy",
        "Timings",
        "Skipped files (0)",
        "Config",
    ):
        assert f"<h2>{heading}</h2>" in html, heading
    assert html.count('src="data:image/png;base64,') == 2
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert f'<td class="num">{fmt("test_accuracy", metrics["test_accuracy"])}</td>' in html


def test_per_run_report_lists_skipped_files(tmp_path):
    from lrcn.train.report_write import write_run_report

    run = fake_run(tmp_path / "r", skipped=[{"path": "data/a/<bad>.avi", "reason": "no frames decoded"}])
    html = write_run_report(run).read_text()
    assert "Skipped files (1)" in html and "data/a/&lt;bad&gt;.avi" in html and "no frames decoded" in html
    assert "no curves.png" in html  # a missing plot is said, not a broken image


def test_vc_report_imports_no_torch(tmp_path):
    fake_sweep(tmp_path / "sweep")
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from lrcn.train.report_cli import app\n"
        f"app([{str(tmp_path / 'sweep')!r}], standalone_mode=False)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sweep" / "report.html").is_file()
