"""Issue 17 item 5 and the CSV items: data never becomes Rich markup, terminal escapes or spreadsheet formulas."""

import csv
import shutil

import pytest
from helpers import fake_model
from typer.testing import CliRunner

from lrcn.runtime.vcrun.cli import app

runner = CliRunner()
OSC52 = "\x1b]52;c;aGk=\x07"  # writes the clipboard on terminals that honour it
CLASSES = (f"a{OSC52}", "[conceal]b", '=HYPERLINK("http://x")')


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return fake_model(tmp_path_factory.mktemp("m"), classes=CLASSES)


@pytest.fixture
def folder(tmp_path, tiny_data):
    videos = sorted(tiny_data.rglob("*.avi"))[:3]
    names = ["x[/b]y.avi", "[conceal]z.avi", f"esc{OSC52[:-1]}\x1b[2J.avi"]
    for video, name in zip(videos, names):  # x[/b]y.avi: file b]y.avi in folder x[
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(video, tmp_path / name)
    (tmp_path / "bad[").mkdir()
    (tmp_path / "bad[/red].avi").write_bytes(b"not a video")
    return tmp_path


def test_markup_in_file_and_class_names_prints_every_result(folder, model):
    r = runner.invoke(app, [str(folder), "--model", str(model), "--device", "cpu"], env={"COLUMNS": "500"})
    assert r.exit_code == 1, r.output  # the broken file only
    out = r.output
    assert "Traceback" not in out and "\x1b" not in out and "\x07" not in out
    for shown in ("x[/b]y.avi", "[conceal]z.avi", "bad[/red].avi", "esc?]52;c;aGk=?[2J.avi"):
        assert shown in out, shown
    assert out.count("[conceal]b") + out.count("a?]52;c;aGk=?") + out.count("=HYPERLINK") >= 3
    assert "classified 3 of 4; 1 failed" in out


def test_csv_cells_are_never_formulas_and_replace_atomically(folder, model, tmp_path):
    out = tmp_path / "r.csv"
    out.write_text("an older file\n")
    r = runner.invoke(app, [str(folder), "--model", str(model), "--device", "cpu", "--csv", str(out), "--json"])
    assert r.exit_code == 1 and f"replaced {out}" in r.output
    rows = list(csv.DictReader(out.open(newline="")))
    assert len(rows) == 4
    for row in rows:
        for value in row.values():
            assert value[:1] not in ("=", "+", "-", "@"), value
    assert any(row["label"] == '\'=HYPERLINK("http://x")' for row in rows) or any(
        row["top_k"].startswith("'=") for row in rows
    )
    assert not list(tmp_path.glob(".r.csv.*.tmp"))


def test_json_lines_carry_escapes_as_json_escapes(folder, model):
    r = runner.invoke(app, [str(folder), "--model", str(model), "--device", "cpu", "--json"])
    assert "\x1b" not in r.output and "\\u001b" in r.output


def test_save_refuses_an_existing_file_before_work(model, tmp_path):
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"the user's video")
    r = runner.invoke(app, [str(tmp_path / "x.avi"), "--model", str(model), "--save", str(mine)])
    assert r.exit_code == 2 and "exists already" in r.output and mine.read_bytes() == b"the user's video"


def test_timeline_csv_and_event_lines_keep_labels_inert():
    import numpy as np
    from rich.console import Console

    from lrcn.runtime.events import Event, EventConfig
    from lrcn.runtime.timeline import Timeline, timeline_csv
    from lrcn.runtime.vcrun.event_output import event_line

    tl = Timeline(source="x.avi", labels=["=HYPERLINK(1)", "b"], duration=2.0, config=EventConfig())
    tl.add(0.5, np.array([0.9, 0.1]))
    tl.events = [Event(id="1", stream="s", label="@cmd", start=0.0, end=1.0, peak=0.9, total=0.9, predictions=1)]
    rows = list(csv.DictReader(timeline_csv(tl).splitlines()))
    assert {r["label"] for r in rows} >= {"'@cmd", "'=HYPERLINK(1)"}
    console = Console(record=True, width=200)
    event_line({"stream": "cam[/b]", "phase": "start", "label": f"x[/red]{OSC52}", "start": 0.0, "peak": 0.9}, console)
    text = console.export_text()
    assert "cam[/b]" in text and "x[/red]?]52;c;aGk=?" in text and "\x1b" not in text
