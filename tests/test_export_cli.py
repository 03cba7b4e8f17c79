"""vc-export as a command: what it picks, what it refuses, and every family in one process."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

runner = CliRunner()


def app():
    from lrcn.export.cli import app

    return app


def fake_run(root: Path, name: str, family: str, created: str, checkpoint: bool = True) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": {"name": family}, "created": created}))
    if checkpoint:
        (run / "best.pt").write_bytes(b"x")
    return run


def test_newest_finished_run_of_each_family_is_picked(tmp_path):
    from lrcn.export.sources import list_runs, resolve_sources

    fake_run(tmp_path, "convlstm-old", "convlstm", "2026-01-01T10:00:00")
    new = fake_run(tmp_path, "convlstm-new", "convlstm", "2026-03-01T10:00:00")
    fake_run(tmp_path, "convlstm-unfinished", "convlstm", "2026-04-01T10:00:00", checkpoint=False)
    res = fake_run(tmp_path / "sweep-1", "resnetlstm-a", "resnetlstm", "2026-02-01T10:00:00")
    (tmp_path / "notes").mkdir()
    assert {f: r[0] for f, r in list_runs(tmp_path).items()} == {"convlstm": new, "resnetlstm": res}
    assert [s.run_dir for s in resolve_sources("convlstm", runs_dir=tmp_path)] == [new]
    assert [s.family for s in resolve_sources("all", runs_dir=tmp_path)] == ["convlstm", "resnetlstm"]


@pytest.mark.parametrize(
    "args,needle,code",
    [
        (["--model", "pretrained"], "no finished pretrained run under", 1),
        (["--model", "all"], "no finished run under", 1),
        ([], "say what to export", 2),
        (["--run", "a", "--checkpoint", "b"], "give --run or --checkpoint, not both", 2),
        (["--model", "convlstm", "--precision", "int4"], "--precision takes fp16, int8", 2),
        (["--model", "convlstm", "--opset", "3"], "--opset must be in 7..23", 2),
        (["--checkpoint", "missing.pt"], "missing.pt: checkpoint not found", 1),
    ],
)
def test_refusals_are_one_line(tmp_path, args, needle, code):
    r = runner.invoke(app(), [*args, "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "m")])
    assert r.exit_code == code, r.output
    assert needle in r.output and "Traceback" not in r.output
    assert not (tmp_path / "m").exists()


def test_wrong_family_and_corrupt_checkpoints_write_nothing(tiny_run, tmp_path):
    out = tmp_path / "models"
    r = runner.invoke(app(), ["--model", "resnetlstm", "--checkpoint", str(tiny_run / "best.pt"), "--out", str(out)])
    assert r.exit_code == 1 and "is a convlstm model, not resnetlstm" in r.output, r.output
    r = runner.invoke(app(), ["--model", "resnetlstm", "--run", str(tiny_run), "--out", str(out)])
    assert r.exit_code == 1 and "the run is a convlstm model, not resnetlstm" in r.output, r.output
    torn = tmp_path / "run"
    shutil.copytree(tiny_run, torn)
    data = (torn / "best.pt").read_bytes()
    (torn / "best.pt").write_bytes(data[: len(data) // 2])
    r = runner.invoke(app(), ["--run", str(torn), "--out", str(out)])
    assert r.exit_code == 1 and "not a loadable checkpoint" in r.output, r.output
    assert len(r.output.strip().splitlines()) <= 2 and "Traceback" not in r.output
    assert not list(out.glob("*.onnx")) if out.exists() else True


@pytest.mark.slow
def test_model_all_passes_the_gate_for_every_family_in_one_command(tiny_runs, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for name in ("convlstm", "resnetlstm", "pretrained"):
        os.symlink(tiny_runs[name], runs / name, target_is_directory=True)
    out = tmp_path / "models"
    t0 = time.perf_counter()
    r = runner.invoke(app(), ["--model", "all", "--runs-dir", str(runs), "--out", str(out)])
    assert r.exit_code == 0, r.output
    for family in ("convlstm", "resnetlstm", "pretrained"):
        assert f"parity ok {family}" in r.output
        assert f"vc-run VIDEO --model {out / family}.onnx" in r.output and f"vc-inspect {out / family}.onnx" in r.output
        report = json.loads((out / f"{family}.parity.json").read_text())
        assert report["passed"] and report["files"]["full"]["dims"]["frames"][:2] == ["batch", "time"]
        assert all((out / f"{family}.{k}.onnx").is_file() for k in ("encoder", "head", "step"))
    print(f"--model all: {time.perf_counter() - t0:.0f} s")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("run", "says", "why"),
    [("convlstm-bi", "bidirectional head", "backward pass"), ("convlstm-mean", "mean-pooled head", "every step")],
)
def test_a_head_without_a_step_form_gets_no_step_model_and_says_why(tiny_runs, tmp_path, run, says, why):
    from lrcn.core.errors import ModelError
    from lrcn.runtime.model import LrcnModel

    (tmp_path / "bi.step.onnx").write_bytes(b"from an earlier unidirectional export")
    r = runner.invoke(app(), ["--run", str(tiny_runs[run]), "--out", str(tmp_path / "bi.onnx")])
    assert r.exit_code == 0, r.output
    assert f"no step model ({says})" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bi.encoder.onnx",
        "bi.head.onnx",
        "bi.onnx",
        "bi.parity.json",
    ]
    report = json.loads((tmp_path / "bi.parity.json").read_text())
    assert why in report["step"]["absent"] and report["window"]["passed"]
    from lrcn.export.inspect import format_summary, summarize

    head_line = next(x for x in format_summary(summarize(tmp_path / "bi.onnx")).splitlines() if "head: LSTM" in x)
    assert ("mean over time" in head_line) == (run == "convlstm-mean"), head_line
    model = LrcnModel(tmp_path / "bi.onnx")
    model.part("head")  # window mode streams it
    with pytest.raises(ModelError, match="drop --stateful"):
        model.part("step")


@pytest.mark.slow
def test_diff_modality_streams_on_the_per_frame_modality_tensor(tiny_runs, tmp_path):
    from lrcn.export import export_run

    result = export_run(tiny_runs["convlstm-diff"], tmp_path / "diff.onnx")
    assert result.report.input["source"] == "val"
    assert result.report.window["passed"] and result.report.step["passed"]
    assert result.report.files["encoder"]["dims"]["frame"] == ["batch", 3, 32, 32]
