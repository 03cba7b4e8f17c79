"""vc-export on a trained convlstm: the saved files, their contract, the gate, streaming parts, variants."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from lrcn.runtime import contract as K

pytestmark = pytest.mark.slow  # one export of tiny_run with both variants (~15 s), shared by the module
FILES = [
    "convlstm.encoder.onnx",
    "convlstm.fp16.onnx",
    "convlstm.head.onnx",
    "convlstm.int8.encoder.onnx",
    "convlstm.int8.onnx",
    "convlstm.int8.step.onnx",
    "convlstm.onnx",
    "convlstm.parity.json",
    "convlstm.step.onnx",
]


@pytest.fixture(scope="module")
def exported(exported_tiny):
    """The session's one export of tiny_run (conftest), shared with the runtime and inspect tests."""
    return exported_tiny


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def meta_of(path) -> K.ModelMetadata:
    # the runtime's way: custom_metadata_map through onnxruntime, nothing else
    return K.ModelMetadata.from_json(session(path).get_modelmeta().custom_metadata_map[K.METADATA_KEY])


def torch_probs(run, x):
    import torch

    from lrcn.models.checkpoint import model_from_checkpoint

    model, _ = model_from_checkpoint(run / "best.pt")
    with torch.inference_mode():
        return torch.softmax(model(torch.from_numpy(x)), dim=-1).numpy()


def real_clips(run, t: int, n: int) -> np.ndarray:
    from lrcn.runtime.preprocess import PreprocessSpec, prepare_clip
    from lrcn.runtime.video import read_clip

    pre = json.loads((run / "config.json").read_text())["preprocess"]
    spec = PreprocessSpec.from_dict(pre)
    paths = [s["path"] for s in json.loads((run / "splits.json").read_text())["val"]]
    return np.stack(
        [
            prepare_clip(read_clip(paths[i % len(paths)], t + spec.extra_frames, spec.img_size).frames, spec)
            for i in range(n)
        ]
    )


def test_exactly_the_expected_files_and_no_temporaries(exported):
    assert sorted(p.name for p in exported.model.parent.iterdir()) == FILES
    assert exported.variants.keys() == {"fp16", "int8"} and not exported.refused


@pytest.mark.parametrize("t", [7, 40])
def test_plain_onnxruntime_matches_pytorch_at_any_length_batch_5(exported, tiny_run, t):
    x = real_clips(tiny_run, t, 5)
    logits, probs = session(exported.model).run([K.OUTPUT_LOGITS, K.OUTPUT_PROBS], {K.INPUT_FRAMES: x})
    ref = torch_probs(tiny_run, x)
    assert probs.shape == logits.shape == (5, 3)
    assert np.abs(probs - ref).max() <= 1e-5
    assert (probs.argmax(1) == ref.argmax(1)).all()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)


def test_metadata_carries_classes_preprocessing_and_provenance(exported, tiny_run):
    from lrcn.export.metadata import sha256_file

    config = json.loads((tiny_run / "config.json").read_text())
    meta = meta_of(exported.model)
    assert meta.kind == "full" and meta.family == "convlstm" and meta.precision == "fp32"
    assert meta.class_names == config["class_names"]
    pre = config["preprocess"]
    assert (
        meta.preprocess.img_size,
        list(meta.preprocess.mean),
        list(meta.preprocess.std),
        meta.preprocess.modality,
        meta.preprocess.channel_order,
        meta.preprocess.layout,
    ) == (pre["img_size"], pre["mean"], pre["std"], pre["modality"], pre["channel_order"], pre["layout"])
    assert meta.num_frames == pre["num_frames"] == 4 and meta.sample_fps == pre["sample_fps"]
    assert (meta.bidirectional, meta.lstm_layers, meta.hidden_size, meta.latent_dim) == (False, 1, 12, 16)
    assert meta.metrics["test_accuracy"] == json.loads((tiny_run / "metrics.json").read_text())["test_accuracy"]
    assert meta.checkpoint_sha256 == sha256_file(tiny_run / "best.pt")
    assert meta.exported and meta.lrcn_version and meta.schema_version == 1  # a plain model: any lrcn reads it
    assert meta.parts == {
        "encoder": "convlstm.encoder.onnx",
        "head": "convlstm.head.onnx",
        "step": "convlstm.step.onnx",
    }
    for kind, name in meta.parts.items():
        part = meta_of(exported.model.parent / name)
        assert part.kind == kind and part.parts == meta.parts and part.class_names == meta.class_names


def test_every_file_passes_the_checker_with_symbolic_batch_and_time(exported):
    want = {
        "convlstm.onnx": {K.INPUT_FRAMES: [K.BATCH_DIM, K.TIME_DIM, 3, 32, 32]},
        "convlstm.encoder.onnx": {K.INPUT_FRAME: [K.BATCH_DIM, 3, 32, 32]},
        "convlstm.head.onnx": {K.FEATURES: [K.BATCH_DIM, K.TIME_DIM, 16]},
        "convlstm.step.onnx": {
            K.INPUT_FRAME: [K.BATCH_DIM, 3, 32, 32],
            K.STATE_H: [1, K.BATCH_DIM, 12],
            K.STATE_C: [1, K.BATCH_DIM, 12],
        },
        "convlstm.int8.onnx": {K.INPUT_FRAMES: [K.BATCH_DIM, K.TIME_DIM, 3, 32, 32]},
    }
    for name, inputs in want.items():
        path = exported.model.parent / name
        onnx.checker.check_model(str(path), full_check=True)
        graph = onnx.load(str(path)).graph
        got = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.input}
        assert got == inputs, name


def test_parity_report_has_the_figures(exported):
    report = json.loads(exported.parity.read_text())
    assert report["passed"] and report["error"] is None and report["input"]["source"] == "val"
    assert report["lengths"] == [1, 4, 9] and report["batches"] == [1, 3] and report["tolerance"] == 1e-5
    for part in ("full", "window", "step"):
        rows = report[part]["rows"]
        assert [(r["T"], r["batch"]) for r in rows] == [(t, b) for t in (1, 4, 9) for b in (1, 3)]
        assert all(r["max_abs_dprobs"] <= 1e-5 and r["top1_match"] for r in rows)
    assert exported.summary.startswith("parity ok convlstm") and "step" in exported.summary


def test_stream_parts_reproduce_the_full_model(exported, tiny_run):
    folder = exported.model.parent
    enc, head, step = (session(folder / f"convlstm.{k}.onnx") for k in ("encoder", "head", "step"))
    stream = real_clips(tiny_run, 10, 2)  # two streams of 10 frames; the window is the last T = 4
    feats = np.stack([enc.run(None, {K.INPUT_FRAME: stream[:, i]})[0] for i in range(10)], axis=1)
    window = head.run([K.OUTPUT_PROBS], {K.FEATURES: feats[:, -4:]})[0]
    assert np.abs(window - torch_probs(tiny_run, np.ascontiguousarray(stream[:, -4:]))).max() <= 1e-5
    h = c = np.zeros((1, 2, 12), np.float32)
    for i in range(10):
        probs, h, c = step.run(
            [K.OUTPUT_PROBS, K.STATE_H_OUT, K.STATE_C_OUT], {K.INPUT_FRAME: stream[:, i], K.STATE_H: h, K.STATE_C: c}
        )
    assert np.abs(probs - torch_probs(tiny_run, stream)).max() <= 1e-5


def test_edge_variants_are_measured_and_small(exported):
    report = json.loads(exported.parity.read_text())["variants"]
    for precision in ("fp16", "int8"):
        f = report[precision]
        assert f["accepted"] and f["agreement"] >= 0.98 and f["clips"] == 12 and f["clips_from"] == "val"
        assert f["latency_ms"] > 0 and f["fp32_latency_ms"] > 0 and f["path"] == f"convlstm.{precision}.onnx"
        meta = meta_of(exported.variants[precision])
        assert meta.precision == precision and meta.kind == "full" and meta.extra["variant_of"] == "convlstm.onnx"
    assert report["int8"]["size_ratio"] <= 0.35
    assert exported.variants["int8"].stat().st_size <= 0.35 * exported.model.stat().st_size


def test_int8_variant_streams_with_int8_conv_parts(exported):
    report = json.loads(exported.parity.read_text())["variants"]["int8"]["stream"]
    assert report["accepted"] and report["window_agreement"] >= 0.98 and report["step_agreement"] >= 0.98
    assert report["encoder_ms"] > 0 and report["fp32_encoder_ms"] > 0
    meta = meta_of(exported.variants["int8"])
    assert meta.parts == {
        "encoder": "convlstm.int8.encoder.onnx",
        "head": "convlstm.head.onnx",
        "step": "convlstm.int8.step.onnx",
    }
    for kind in ("encoder", "step"):
        path = exported.model.parent / meta.parts[kind]
        part = meta_of(path)
        assert part.kind == kind and part.precision == "int8"
        assert part.checkpoint_sha256 == meta_of(exported.model).checkpoint_sha256
        ops = {n.op_type for n in onnx.load(str(path)).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops, ops  # static QDQ around every Conv


def test_int8_stream_parts_below_the_floor_are_left_out(tiny_run, tmp_path, monkeypatch):
    from lrcn.export import export_run, pipeline

    real = pipeline.measure_stream
    monkeypatch.setattr(pipeline, "measure_stream", lambda *a, **k: {**real(*a, **k), "agreement": 0.5})
    result = export_run(tiny_run, tmp_path / "convlstm.onnx", precisions=("int8",))
    figures = json.loads(result.parity.read_text())["variants"]["int8"]
    assert figures["accepted"] and figures["stream"]["accepted"] is False
    assert meta_of(result.variants["int8"]).parts == {}  # clip mode only; the runtime says to stream fp32
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "convlstm.encoder.onnx",
        "convlstm.head.onnx",
        "convlstm.int8.onnx",
        "convlstm.onnx",
        "convlstm.parity.json",
        "convlstm.step.onnx",
    ]


def test_failed_gate_writes_no_model_and_keeps_an_earlier_one(tiny_run, tmp_path):
    """Issue 17: a failed gate never deletes what the user had at the target."""
    from lrcn.export import export_run
    from lrcn.export.parity import ParityError

    with pytest.raises(ParityError, match="onnxruntime differs from PyTorch"):
        export_run(tiny_run, tmp_path / "new" / "convlstm.onnx", tolerance=0.0, stream=False)
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["convlstm.parity.json"]
    earlier = (
        "convlstm.onnx",
        "convlstm.step.onnx",
        "convlstm.int8.onnx",
        "convlstm.int8.encoder.onnx",
        "convlstm.int8.step.onnx",
        "convlstm.parity.json",
    )
    for old in earlier:  # an earlier export's files
        (tmp_path / old).write_bytes(b"old")
    with pytest.raises(ParityError, match="the earlier convlstm.onnx is kept"):
        export_run(tiny_run, tmp_path / "convlstm.onnx", tolerance=0.0, stream=False)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(
        [*earlier, "convlstm.failed.parity.json"]
    )
    assert all((tmp_path / old).read_bytes() == b"old" for old in earlier)
    report = json.loads((tmp_path / "convlstm.failed.parity.json").read_text())
    assert report["passed"] is False and "differs" in report["error"]


def test_a_variant_below_the_agreement_floor_is_refused_with_its_figure(tiny_run, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from lrcn.export import pipeline
    from lrcn.export.cli import app

    monkeypatch.setattr(pipeline, "MIN_AGREEMENT", 1.01)  # nothing can reach it
    r = CliRunner().invoke(app, ["--run", str(tiny_run), "--out", str(tmp_path), "--precision", "int8", "--no-stream"])
    assert r.exit_code == 1, r.output
    assert "int8 refused: agreement 100.0% < 101%" in r.output and "parity ok convlstm" in r.output
    assert json.loads((tmp_path / "convlstm.parity.json").read_text())["variants"]["int8"]["accepted"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["convlstm.onnx", "convlstm.parity.json"]


def test_the_gate_never_lets_a_frozen_time_axis_through(tiny_run, tmp_path, monkeypatch):
    """Without the dispatch-cache reset, torch 2.14 freezes T on a second export in a process.
    Whatever torch does, the result is either symbolic and correct, or refused by the gate."""
    from lrcn.export import export_run, graphs
    from lrcn.export.parity import ParityError

    monkeypatch.setattr(graphs, "_reset_rnn_dispatch", lambda: None)
    for i in range(2):
        try:
            result = export_run(tiny_run, tmp_path / f"m{i}.onnx", stream=False)
        except ParityError as e:
            assert "froze" in str(e) and not (tmp_path / f"m{i}.onnx").exists()
            continue
        dims = result.report.files["full"]["dims"][K.INPUT_FRAMES]
        assert dims[:2] == [K.BATCH_DIM, K.TIME_DIM]


def test_opset_is_pinned_and_configurable(tiny_run, tmp_path):
    from lrcn.export import export_run

    result = export_run(tiny_run, tmp_path / "m17.onnx", opset=17, stream=False)
    opsets = {o.domain: o.version for o in onnx.load(str(result.model)).opset_import}
    assert opsets[""] == 17 and result.report.opset == 17 and meta_of(result.model).extra["opset"] == 17
