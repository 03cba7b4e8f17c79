"""Messy inputs through the real commands: broken videos, wrong model files, bad checkpoints, nonsense options.

Each one is classified or refused in exactly one line naming it, with a non-zero exit where it fails,
and leaves no partial file behind.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_VIDEOS
from helpers import fake_model, vc_run, write_avi
from typer.testing import CliRunner

from lrcn.core.errors import VideoError
from lrcn.runtime import decode as D
from lrcn.runtime import video as V
from lrcn.runtime.decode import FrameReader

runner = CliRunner()


def write_video(path: Path, frames: int, w: int = 48, h: int = 48) -> Path:
    """A dot moving right over `frames` frames of w x h."""
    imgs = [
        cv2.circle(np.zeros((h, w, 3), np.uint8), (w // 4 + i * w // 16, h // 2), max(2, h // 8), (255, 200, 40), -1)
        for i in range(frames)
    ]
    return write_avi(path, imgs, size=(w, h))


def shared_or_made(name: str, tmp: Path) -> bytes:
    real = SHARED_VIDEOS / name
    return real.read_bytes() if real.is_file() else write_video(tmp / f"made-{name}", 40, 160, 120).read_bytes()


def messy_folder(root: Path) -> dict[str, bool | None]:
    """Write the awkward files into root; returns name -> True (must classify), False (must be refused),
    None (either, but in one line)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    (root / "empty.avi").write_bytes(b"")
    (root / "random.avi").write_bytes(rng.bytes(20_000))
    (root / "random.mp4").write_bytes(rng.bytes(20_000))
    (root / "notes.mp4").write_text("not a video, just text\n" * 40)
    mp4 = shared_or_made("chaplin_h264.mp4", root.parent)  # moov atom at the end: its first 10% cannot play
    (root / "first-tenth.mp4").write_bytes(mp4[: len(mp4) // 10])
    avi = shared_or_made("hmdb51_swing_baseball_mpeg4.avi", root.parent)  # AVI: the first 10% still decodes
    (root / "first-tenth.avi").write_bytes(avi[: len(avi) // 10])
    write_video(root / "zero-frames.avi", 0)
    write_video(root / "one-frame.avi", 1)
    write_video(root / "two-frames.avi", 2)  # shorter than T = 4: padded by repetition
    write_video(root / "with space ünï 日本.avi", 6)
    write_video(root / "uhd-4k.avi", 2, 3840, 2160)
    (root / "folder.avi").mkdir()
    return {
        "empty.avi": False,
        "random.avi": False,
        "random.mp4": False,
        "notes.mp4": False,
        "first-tenth.mp4": None,
        "first-tenth.avi": None,
        "zero-frames.avi": False,
        "one-frame.avi": True,
        "two-frames.avi": True,
        "with space ünï 日本.avi": True,
        "uhd-4k.avi": True,
        "folder.avi": False,
    }


def test_every_messy_file_is_classified_or_refused_in_exactly_one_line(fake, tmp_path):
    expected = messy_folder(tmp_path / "messy")
    inputs = [tmp_path / "messy" / name for name in sorted(expected)]
    t0 = time.perf_counter()
    r = vc_run(*inputs, "--model", fake, "--device", "cpu", "--json", "--decode-timeout", "20")
    seconds = time.perf_counter() - t0
    assert r.exit_code == 1 and "Traceback" not in r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [d["source"] for d in rows] == [str(p) for p in inputs]  # one row per input, in order
    errors = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    for p, row in zip(inputs, rows):
        mine = [e for e in errors if e.startswith(f"error: {p}:")]
        if "error" in row:
            assert expected[p.name] is not True, row
            assert len(mine) == 1 and row["error"].startswith(f"{p}: ") and "\n" not in row["error"]
        else:
            assert expected[p.name] is not False, row
            assert not mine and row["label"] in ("a", "b", "c")
    assert len(errors) == sum("error" in d for d in rows)
    frames = {Path(d["source"]).name: d["frames"] for d in rows if "error" not in d}
    assert frames["one-frame.avi"] == 1 and frames["two-frames.avi"] == 2 and frames["uhd-4k.avi"] == 2
    assert seconds < 120  # a few seconds of work; a file hanging until --decode-timeout costs 20 s (a loaded
    # machine is slower, not 10 times slower than this bound allows)


def test_messy_files_in_stream_mode_end_in_one_line_each(fake, tmp_path):
    expected = messy_folder(tmp_path / "messy")
    inputs = [tmp_path / "messy" / name for name in sorted(expected)]
    r = vc_run(*inputs, "--model", fake, "--device", "cpu", "--json", "--stream", "--sample-fps", "0")
    assert r.exit_code == 1 and "Traceback" not in r.output
    errors = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    for p in inputs:
        mine = [e for e in errors if e.startswith(f"error: {p}:")]
        rows = [json.loads(x) for x in r.stdout.splitlines()]  # predictions, then a summary per stream
        predicted = any(d["source"] == str(p) and "label" in d for d in rows)
        assert len(mine) + predicted == 1, (p.name, mine)  # classified, or refused once
    assert any(d["source"].endswith("日本.avi") and "label" in d for d in rows)


def test_the_decode_watchdog_stops_a_real_slow_decode(fake, tmp_path, shared_videos, monkeypatch):
    video = shared_videos / "nasa_13013_two_audio.mp4"  # 325 frames: far more than 1 ms of decoding
    readers = []
    monkeypatch.setattr(D, "FrameReader", lambda path: readers.append(FrameReader(path)) or readers[-1])
    t0 = time.perf_counter()
    with pytest.raises(VideoError, match=r"nasa_13013_two_audio.mp4: decoding took longer than 0.001 s"):
        V.decode_video(video, 32, timeout_s=0.001)
    assert time.perf_counter() - t0 < 10  # generous for a loaded machine; the count is the real proof:
    assert readers[0].decoded < 325  # the decoder was stopped part-way, not waited for
    monkeypatch.undo()
    good = write_video(tmp_path / "good.avi", 6)
    r = vc_run(video, good, "--model", fake, "--device", "cpu", "--json", "--decode-timeout", "0.001")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.exit_code == 1 and "decoding took longer than 0.001 s" in rows[0]["error"]
    assert rows[1]["source"] == str(good)  # the next file still gets its turn (refused or classified in one row)


def test_a_broken_avi_header_gets_our_line_and_no_parser_noise(fake, tmp_path, capfd):
    """Found by the fuzz test: OpenCV's own AVI parser (CAP_ANY's fallback) printed to stderr."""
    good = write_video(tmp_path / "good.avi", 6).read_bytes()
    at = good.index(b"LIST")
    (tmp_path / "header.avi").write_bytes(good[:at] + b"XIST" + good[at + 4 :])
    r = vc_run(tmp_path / "header.avi", "--model", fake, "--device", "cpu", "--json")
    assert r.exit_code == 1 and f"error: {tmp_path / 'header.avi'}: no decodable video frames" in r.stderr
    native = capfd.readouterr().err  # what C++ wrote to fd 2, past the CLI runner
    assert "Unexpected element" not in native and "VideoCapture" not in native, native


# ---------------------------------------------------------------- model files given to vc-run


def _plain(fake: Path, out: Path) -> Path:
    import onnx

    m = onnx.load(str(fake))
    del m.metadata_props[:]
    onnx.save(m, str(out))
    return out


BAD_MODELS = {  # what is wrong -> the start of the message after "error: PATH: "
    "text": "cannot load (not an ONNX model",
    "plain": "no lrcn metadata",
    "newer": "metadata schema 99 is newer than this lrcn reads (4); upgrade lrcn",
    "classes": "the metadata names 3 classes but the model outputs 4",
    "truncated": "",
    "missing": "no such model file",
}


@pytest.mark.parametrize("what", BAD_MODELS)
def test_vc_run_refuses_a_bad_model_in_one_line(fake, tiny_data, tmp_path, what):
    needle = BAD_MODELS[what]
    path = {
        "text": lambda: (tmp_path / "notes.onnx").write_text("hello") and tmp_path / "notes.onnx",
        "plain": lambda: _plain(fake, tmp_path / "plain.onnx"),
        "newer": lambda: fake_model(tmp_path / "newer", meta_overrides={"schema_version": 99}),
        "classes": lambda: fake_model(tmp_path / "classes", out_dim=4),
        "truncated": lambda: (
            (tmp_path / "cut.onnx").write_bytes(fake.read_bytes()[: fake.stat().st_size // 3]) and tmp_path / "cut.onnx"
        ),
        "missing": lambda: tmp_path / "absent.onnx",
    }[what]()
    r = vc_run(next(tiny_data.rglob("*.avi")), "--model", path, "--device", "cpu")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.startswith(f"error: {path}: {needle}") and len(r.output.splitlines()) == 1, r.output


# ---------------------------------------------------------------- checkpoints given to vc-export


def export_app():
    from lrcn.export.cli import app

    return app


@pytest.mark.parametrize(
    "what,needle",
    [
        ("family", "checkpoint is a convlstm model, not resnetlstm"),
        ("torn", "not a loadable checkpoint"),
        ("bytes", "not a loadable checkpoint"),
        ("foreign", "not an lrcn checkpoint (no model/config)"),
        ("weights", "weights do not fit a convlstm model"),
    ],
)
def test_vc_export_refuses_a_bad_checkpoint_and_writes_nothing(tiny_run, tmp_path, what, needle):
    import torch

    src = tiny_run / "best.pt"
    ckpt = tmp_path / "ckpt" / "model.pt"
    ckpt.parent.mkdir()
    if what == "torn":
        ckpt.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    elif what == "bytes":
        ckpt.write_bytes(np.random.default_rng(0).bytes(4096))
    elif what == "foreign":
        torch.save({"conv.weight": torch.zeros(2, 2)}, ckpt)  # some other project's state dict
    elif what == "weights":
        state = torch.load(src, map_location="cpu", weights_only=True)
        state["model"] = {k: v[..., :1] if v.ndim else v for k, v in state["model"].items()}
        torch.save(state, ckpt)
    else:
        ckpt.write_bytes(src.read_bytes())
    out = tmp_path / "models"
    args = ["--checkpoint", str(ckpt), "--out", str(out)] + (["--model", "resnetlstm"] if what == "family" else [])
    r = runner.invoke(export_app(), args)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.startswith(f"error: {ckpt}: {needle}") and len(r.output.splitlines()) == 1, r.output
    assert not out.exists()  # not even a temp file or an empty folder


def test_vc_export_interrupted_mid_gate_leaves_no_partial_onnx(tiny_run, tmp_path, monkeypatch):
    import lrcn.export.pipeline as P

    def interrupted(job, tmps, report, tolerance):
        assert all(p.is_file() for p in tmps.values())  # the graphs are written, under temp names
        raise KeyboardInterrupt

    monkeypatch.setattr(P, "_gate", interrupted)
    out = tmp_path / "models"
    out.mkdir()
    (out / "convlstm.onnx").write_bytes(b"an earlier export")  # stays whole: the new one never replaced it
    r = runner.invoke(export_app(), ["--run", str(tiny_run), "--out", str(out), "--no-stream"])
    assert r.exit_code == 130 and "Traceback" not in r.output
    assert sorted(p.name for p in out.iterdir()) == ["convlstm.onnx"]
    assert (out / "convlstm.onnx").read_bytes() == b"an earlier export"


# ---------------------------------------------------------------- nonsense options, refused before any work


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--model", "vgglstm"], "--model must be one of convlstm, resnetlstm, pretrained, all; got 'vgglstm'"),
        (["--model", "convlstm", "--precision", "int3"], "--precision takes fp16, int8"),
        (["--model", "convlstm", "--tolerance", "-1"], "--tolerance must be in [0, 1)"),
    ],
)
def test_vc_export_refuses_nonsense_with_the_choices(tmp_path, args, needle):
    r = runner.invoke(export_app(), [*args, "--runs-dir", str(tmp_path), "--out", str(tmp_path / "m")])
    assert r.exit_code == 2 and needle in r.output and len(r.output.splitlines()) == 1, r.output
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("layout", ["empty", "files only", "one class", "no videos"])
def test_vc_train_refuses_a_data_folder_without_class_folders(tmp_path, layout):
    from lrcn.train.cli import app

    data = tmp_path / "data"
    data.mkdir()
    if layout == "files only":
        write_video(data / "clip.avi", 3)
    elif layout == "one class":
        write_video((data / "walk").mkdir() or data / "walk" / "clip.avi", 3)
    elif layout == "no videos":
        for c in ("a", "b"):
            (data / c).mkdir()
            (data / c / "readme.txt").write_text("x")
    r = runner.invoke(app, ["--data", str(data), "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert (
        r.output.startswith(f"error: {data}: needs at least 2 class folders holding videos")
        and "Layout: root/<class>/<video>" in r.output
        and len(r.output.splitlines()) == 1
    )
    assert not (tmp_path / "run").exists() and not (tmp_path / "c").exists()
