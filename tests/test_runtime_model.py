"""The runtime without torch, its sessions and providers, and load-time refusal of bad model files."""

import os
import subprocess
import sys

import pytest
from conftest import REPO
from helpers import cuda_works, fake_model
from typer.testing import CliRunner

from lrcn.core.errors import ModelError
from lrcn.runtime.model import LrcnModel, newest_model
from lrcn.runtime.session import CPU, DeviceError, SessionConfig, SessionFactory, provider_failure_reason

runner = CliRunner()


def test_runtime_imports_without_torch(fake, tiny_data):
    video = next(tiny_data.rglob("*.avi"))
    code = f"""
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import lrcn.runtime, lrcn.runtime.vcrun.cli, lrcn.runtime.stream, lrcn.runtime.vcrun.display, lrcn.runtime.vcrun.run_stream
import lrcn.runtime.engine, lrcn.runtime.scheduler, lrcn.runtime.mailbox, lrcn.runtime.streamlist
import lrcn.runtime.vcrun.run_timeline, lrcn.runtime.timeline_html, lrcn.runtime.vcrun.event_output, lrcn.runtime.sinks.http, lrcn.runtime.sinks.jsonl
from lrcn.runtime import VideoClassifier
clf = VideoClassifier({str(fake)!r}, device="cpu")
p = clf.predict({str(video)!r})
assert p.label in clf.class_names, p
assert sum(q.ready for q in clf.streams([{str(video)!r}, {str(video)!r}], sample_fps=0)) == 18
forbidden = [m for m in sys.modules if m.split(".")[0] in ("torchvision", "onnx") or
             m.startswith(("lrcn.train", "lrcn.export", "lrcn.models"))]
assert not forbidden, forbidden
print("ok", p.label)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]


def test_session_config_refuses_nonsense():
    with pytest.raises(ValueError, match="^device must be one of"):
        SessionConfig(device="tpu")
    with pytest.raises(ValueError, match="^threads must be >= 1"):
        SessionConfig(threads=0)


def test_cpu_session_and_threads(fake):
    f = SessionFactory(SessionConfig(device="cpu", threads=1))
    sess = f.create(fake)
    assert f.providers == [CPU] and sess.get_providers() == [CPU] and f.note is None


def test_window_parts_do_not_spin_and_the_rest_follow_the_config(fake):
    from lrcn.runtime.model import LrcnModel

    def spins(part) -> str:
        try:
            return part.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
        except RuntimeError:  # never set: onnxruntime's default (spinning)
            return "default"

    m = LrcnModel(fake, SessionConfig(device="cpu"))
    assert spins(m.part("encoder")) == spins(m.part("head")) == "0"  # two sessions take turns every frame
    assert spins(m.full) == spins(m.part("step")) == "default"
    m = LrcnModel(fake, SessionConfig(device="cpu", spinning=False))
    assert spins(m.full) == spins(m.part("step")) == "0"


@pytest.mark.skipif(cuda_works(), reason="this machine has a working CUDA provider")
def test_auto_falls_back_to_cpu_in_one_line_and_cuda_refuses(fake, capfd):
    f = SessionFactory(SessionConfig(device="auto"))
    f.create(fake)
    assert f.providers == [CPU]
    assert f.note and f.note.startswith("running on the CPU: ") and "\n" not in f.note
    with pytest.raises(DeviceError, match=r"^--device cuda: .*use --device cpu or auto$"):
        SessionFactory(SessionConfig(device="cuda")).create(fake)
    with pytest.raises(DeviceError, match=r"^--device tensorrt: "):
        SessionFactory(SessionConfig(device="tensorrt")).create(fake)
    out, err = capfd.readouterr()
    assert "ONNXRuntimeError" not in err + out and "onnxruntime" not in err + out  # the error wall stays hidden


def test_provider_failure_reasons_are_short():
    wall = (
        "\x1b[1;31m2026 [E:onnxruntime:Default, provider_bridge_ort.cc:2458 operator()] ... Failed to load library "
        "libonnxruntime_providers_cuda.so with error: libcuda.so.1: cannot open shared object file\x1b[m\n"
        "[W:onnxruntime:Default] Failed to create CUDAExecutionProvider. Require cuDNN 9.* and CUDA 13.*."
    )
    assert provider_failure_reason(wall) == "no NVIDIA driver (libcuda not found)"
    assert (
        provider_failure_reason("x with error: libcublasLt.so.13: cannot open shared object file. more")
        == "libcublasLt.so.13: cannot open shared object file"
    )
    assert provider_failure_reason("") == "the session did not get it"


def _error(path) -> str:
    with pytest.raises(ModelError) as e:
        LrcnModel(path, SessionConfig(device="cpu"))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(path))
    return msg


def test_bad_model_files_are_refused_in_one_line(tmp_path, fake):
    import onnx

    (tmp_path / "notes.onnx").write_text("hello")
    assert "not an ONNX model" in _error(tmp_path / "notes.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert "cannot load" in _error(tmp_path / "empty.onnx")
    data = fake.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    assert "cannot load" in _error(tmp_path / "cut.onnx") or "no lrcn metadata" in _error(tmp_path / "cut.onnx")
    assert "no such model file" in _error(tmp_path / "missing.onnx")
    plain = onnx.load(str(fake))
    del plain.metadata_props[:]
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    assert "no lrcn metadata" in _error(tmp_path / "plain.onnx")
    assert "is the encoder part" in _error(fake.with_name("fake.encoder.onnx"))


def test_newer_schema_and_wrong_class_count_are_refused(tmp_path):
    newer = fake_model(tmp_path / "newer", meta_overrides={"schema_version": 99})
    assert "newer than this lrcn reads" in _error(newer)
    wrong = fake_model(tmp_path / "wrong", out_dim=4)
    assert "names 3 classes but the model outputs 4" in _error(wrong)


def test_missing_or_foreign_parts_are_named(tmp_path):
    path = fake_model(tmp_path / "m")
    path.with_name("fake.head.onnx").unlink()
    model = LrcnModel(path, SessionConfig(device="cpu"))
    with pytest.raises(ModelError, match=r"fake.head.onnx: the head part of fake.onnx is missing"):
        model.part("head")
    other = fake_model(tmp_path / "other", meta_overrides={"checkpoint_sha256": "another"})
    os.replace(other.with_name("fake.encoder.onnx"), path.with_name("fake.encoder.onnx"))
    with pytest.raises(ModelError, match="exported from another checkpoint"):
        model.part("encoder")


def test_newest_model_skips_parts_and_variants(tmp_path):
    assert newest_model(tmp_path / "none") is None
    old = fake_model(tmp_path / "a", name="old")
    new = fake_model(tmp_path / "b", name="new")
    (tmp_path / "b" / "new.int8.onnx").write_bytes(new.read_bytes())
    t = new.stat().st_mtime_ns  # explicit times: a coarse or busy clock cannot tie them
    os.utime(old, ns=(t + 10**9, t + 10**9))  # touch: the oldest export is now the newest file
    assert newest_model(tmp_path) == old
    os.utime(new, ns=(t + 2 * 10**9, t + 2 * 10**9))
    assert newest_model(tmp_path) == new


def test_cli_without_model_hints_vc_export(tmp_path, monkeypatch):
    from lrcn.runtime.vcrun.cli import app

    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["video.avi"])
    assert r.exit_code == 1 and "vc-export" in r.output and len(r.output.strip().splitlines()) == 1


def test_cli_picks_newest_model_and_says_so(tmp_path, monkeypatch, tiny_data):
    from lrcn.runtime.vcrun.cli import app

    fake_model(tmp_path / "artifacts" / "models", name="convlstm")
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, [str(next(tiny_data.rglob("*.avi"))), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert (
        "model artifacts/models/convlstm.onnx (the newest" in r.output and "providers CPUExecutionProvider" in r.output
    )


def test_cli_cuda_without_cuda_is_a_clear_error(fake):
    from lrcn.runtime.vcrun.cli import app

    if cuda_works():
        pytest.skip("this machine has a working CUDA provider")
    r = runner.invoke(app, ["x.avi", "--model", str(fake), "--device", "cuda"])
    assert r.exit_code == 1 and r.output.startswith("error: --device cuda: ") and len(r.output.splitlines()) == 1


def test_edge_variant_without_parts_says_how_to_stream(tmp_path):
    path = fake_model(tmp_path, meta_overrides={"precision": "int8", "parts": {}, "extra": {"full": "fake.onnx"}})
    model = LrcnModel(path, SessionConfig(device="cpu"))
    with pytest.raises(ModelError, match="the int8 variant has no streaming parts; stream with fake.onnx"):
        model.part("encoder")
