"""Issue 17 item 1 and its Low items: vc-report and the run report given a crafted run or sweep folder."""

import json
import re

import numpy as np
from report_fakes import fake_run, fake_sweep
from typer.testing import CliRunner

from lrcn.train.report_cli import app

runner = CliRunner()
EVIL = "x\nimport os;os.system('touch pwned')\n"


def test_pth_attack_through_symlinked_report_in_a_sweep(tmp_path):
    """The review's reproduction: report.md a symlink into site-packages, a run named with a code line."""
    site = tmp_path / "site-packages"
    site.mkdir()
    sweep = tmp_path / "sweep"
    fake_sweep(sweep)
    fake_run(sweep / EVIL)
    for name, target in [("report.md", "zz.pth"), ("report.html", "zz2.pth"), ("compare.png", "zz3.pth")]:
        (sweep / name).symlink_to(site / target)
    result = runner.invoke(app, [str(sweep)])
    assert result.exit_code == 0, result.output
    assert list(site.iterdir()) == []  # nothing written through the links
    for name in ("report.md", "report.html", "compare.png"):
        assert (sweep / name).is_file() and not (sweep / name).is_symlink()
    md = (sweep / "report.md").read_text()
    assert not [ln for ln in md.splitlines() if ln.lstrip().startswith("import")]
    assert "x?import os;os.system\\('touch pwned'\\)?" in md
    html = (sweep / "report.html").read_text()
    assert "\nimport os" not in html


def test_markdown_escapes_html_links_and_cells(tmp_path):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep)
    fake_run(sweep / "a|b<img src=x onerror=alert(1)>[c](javascript:alert(1))")
    assert runner.invoke(app, [str(sweep)]).exit_code == 0
    md = (sweep / "report.md").read_text()
    assert "<img" not in md and "](javascript" not in md and "&lt;img" in md
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    table = lines[start : start + 7]  # header, rule, 5 runs
    assert all(ln.startswith("|") for ln in table)
    assert len({ln.count("|") - ln.count("\\|") for ln in table}) == 1  # no name adds a cell


def test_no_write_into_a_folder_of_runs_unless_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "from-elsewhere"
    fake_run(runs / "a")
    fake_run(runs / "b", lr=1e-4)
    before = sorted(p.name for p in runs.iterdir())
    result = runner.invoke(app, [str(runs)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in runs.iterdir()) == before
    written = [p for p in (tmp_path / "artifacts" / "reports").glob("report-*/report.md")]
    assert len(written) == 1 and str(written[0].relative_to(tmp_path)) in result.output
    assert runner.invoke(app, [str(runs)]).exit_code == 0  # a second one in the same second: its own folder
    assert len(list((tmp_path / "artifacts" / "reports").glob("report-*/report.md"))) == 2
    out = tmp_path / "mine"
    assert runner.invoke(app, [str(runs), "--out", str(out)]).exit_code == 0
    assert (out / "report.md").is_file() and (out / "report.html").is_file()


def test_run_report_replaces_a_symlink_and_embeds_only_safe_pngs(tmp_path):
    from lrcn.train.plots import plot_curves
    from lrcn.train.report_write import write_run_report

    secret = tmp_path / "secret.png"
    plot_curves([{"epoch": 1, "train_loss": 1, "val_loss": 1, "train_accuracy": 0, "val_accuracy": 0}], secret)
    run = fake_run(tmp_path / "javascript:alert(1)")
    (run / "curves.png").symlink_to(secret)  # a PNG from outside the run: not embedded
    (run / "confusion.png").write_bytes(b"<script>alert(1)</script>")  # not a PNG: not embedded
    target = tmp_path / "victim.txt"
    target.write_text("mine")
    (run / "report.html").symlink_to(target)
    html = write_run_report(run).read_text()
    assert target.read_text() == "mine" and not (run / "report.html").is_symlink()
    assert "data:image/png" not in html and "no curves.png" in html and "no confusion.png" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html and "<script" not in html


def test_javascript_run_folder_is_no_link(tmp_path):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep)
    run = fake_run(sweep / "javascript:alert(1)")
    (run / "report.html").write_text("<p>run</p>")
    assert runner.invoke(app, [str(sweep)]).exit_code == 0
    html = (sweep / "report.html").read_text()
    md = (sweep / "report.md").read_text()
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and not [h for h in hrefs if ":" in h]
    assert "](javascript:" not in md


def test_malformed_run_files_are_one_line(tmp_path):
    cases = {
        "config.json": "[1, 2]",
        "per_class.json": '{"accuracy": [1]}',
        "history.json": '[{"epoch": "x"}]',
        "metrics.json": "{",
        "skipped.json": "[3]",
    }
    for name, text in cases.items():
        run = fake_run(tmp_path / name)
        (run / name).write_text(text)
        result = runner.invoke(app, [str(run), "--out", str(tmp_path / "out")])
        assert result.exit_code == 1, (name, result.output)
        assert name in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    run = fake_run(tmp_path / "nan")
    (run / "per_class.json").write_text(json.dumps({"accuracy": {"a": float("nan")}}))
    assert runner.invoke(app, [str(run), "--out", str(tmp_path / "out")]).exit_code == 1


def test_mathtext_class_and_run_names_plot(tmp_path):
    from lrcn.train.plots import plot_confusion, plot_overlay
    from lrcn.train.report import load_runs

    names = ["$\\notacommand$", "a$b", "\x1b]52;c;aGk=\x07"]
    plot_confusion(np.eye(3, dtype=np.int64), names, tmp_path / "c.png")
    runs = load_runs([fake_run(tmp_path / "$\\notacommand$"), fake_run(tmp_path / "$x^$")])
    assert plot_overlay(runs, tmp_path / "o.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
