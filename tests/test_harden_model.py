"""Issue 17 items 2 and 4: crafted model metadata (part paths, sizes, types) is refused in one line."""

import json
import math
import os
import shutil
import tracemalloc

import pytest
from helpers import fake_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lrcn.core.errors import ModelError
from lrcn.runtime import contract as K
from lrcn.runtime.model import LrcnModel
from lrcn.runtime.session import SessionConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A valid document of the fake model, as a dict to mutate."""
    import onnx

    path = fake_model(tmp_path_factory.mktemp("good"))
    text = next(p.value for p in onnx.load(str(path)).metadata_props if p.key == K.METADATA_KEY)
    return path, json.loads(text)


def restamp(src, dst, text: str):
    """A copy of model `src` at `dst` whose metadata document is `text`."""
    import onnx

    proto = onnx.load(str(src))
    for p in proto.metadata_props:
        if p.key == K.METADATA_KEY:
            p.value = text
    onnx.save(proto, str(dst))
    return dst


def load(path):
    return LrcnModel(path, SessionConfig(device="cpu"))


# item 2: part paths ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "part",
    [
        "../other/fake.encoder.onnx",
        "/etc/x.onnx",
        "\\\\server\\share\\x.onnx",
        "C:x.onnx",
        "sub/x.onnx",
        "..",
        "fake.encoder.onnx\0.txt",
        "x.txt",
    ],
)
def test_part_paths_outside_the_folder_are_refused(tmp_path, good, part):
    src, doc = good
    bad = restamp(src, tmp_path / "m.onnx", json.dumps({**doc, "parts": {"encoder": part}}))
    with pytest.raises(ModelError, match=r"field 'parts' is invalid") as e:
        load(bad)
    assert str(e.value).startswith(str(bad)) and "\n" not in str(e.value)


def test_parts_must_be_a_dict_of_known_kinds(tmp_path, good):
    src, doc = good
    for parts in (["fake.encoder.onnx"], {"encoder": 3}, {"decoder": "fake.encoder.onnx"}, "x"):
        with pytest.raises(ModelError, match="parts"):
            load(restamp(src, tmp_path / "m.onnx", json.dumps({**doc, "parts": parts})))


def test_a_symlinked_part_leading_out_of_the_folder_is_refused(tmp_path):
    path = fake_model(tmp_path / "m")
    other = fake_model(tmp_path / "other")
    path.with_name("fake.encoder.onnx").unlink()
    path.with_name("fake.encoder.onnx").symlink_to(other.with_name("fake.encoder.onnx"))
    with pytest.raises(ModelError, match="is not a file in the model's folder"):
        load(path).part("encoder")


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"num_frames": 6}, "num_frames"),
        ({"img_size": 40}, "preprocess"),
        ({"classes": ("a", "b", "d")}, "class_names"),
    ],
)
def test_a_part_of_another_model_is_refused(tmp_path, kw, field):
    path = fake_model(tmp_path / "m")
    other = fake_model(tmp_path / "other", **kw)
    for kind in ("encoder", "head"):
        shutil.copy(other.with_name(f"fake.{kind}.onnx"), path.with_name(f"fake.{kind}.onnx"))
    with pytest.raises(ModelError, match=f"its {field} differs from fake.onnx's"):
        model = load(path)
        model.part("head" if field != "preprocess" else "encoder")


# item 4: sizes and types -------------------------------------------------------------------------
CRAFTED = {
    "img_size 100000": lambda d: {**d, "preprocess": {**d["preprocess"], "img_size": 100000}},
    "num_frames 1e9": lambda d: {**d, "num_frames": 10**9},
    "lstm 1e6 x 1e9": lambda d: {**d, "lstm_layers": 10**6, "hidden_size": 10**9},
    "50 MB class name": lambda d: {**d, "class_names": ["a" * 50_000_000, "b", "c"]},
    "num_frames '4'": lambda d: {**d, "num_frames": "4"},
    "class names ints": lambda d: {**d, "class_names": [1, 2, 3]},
    "class names nested": lambda d: {**d, "class_names": [["a"], ["b"], ["c"]]},
    "std NaN": lambda d: {**d, "preprocess": {**d["preprocess"], "std": [math.nan, 0.5, 0.5]}},
    "mean inf": lambda d: {**d, "preprocess": {**d["preprocess"], "mean": [math.inf, 0.5, 0.5]}},
    "schema_version true": lambda d: {**d, "schema_version": True},
    "sample_fps -1": lambda d: {**d, "sample_fps": -1},
    "bidirectional 'no'": lambda d: {**d, "bidirectional": "no"},
    "preprocess list": lambda d: {**d, "preprocess": [1]},
    "modality unknown": lambda d: {**d, "preprocess": {**d["preprocess"], "modality": "depth"}},
    "zoom unknown": lambda d: {**d, "preprocess": {**d["preprocess"], "zoom": "people"}},
    "zoom geometry list": lambda d: {**d, "preprocess": {**d["preprocess"], "zoom_geometry": [4]}},
    "zoom margin 1e400": lambda d: {
        **d,
        "preprocess": {**d["preprocess"], "zoom_geometry": {"margin": 10**400, "grid": 8, "max_zoom": 4, "decode": 8}},
    },
    "sample_fps 1e400": lambda d: {**d, "sample_fps": 10**400},
    "schema_version 1e400": lambda d: {**d, "schema_version": 10**400},
    "kind 100k characters": lambda d: {**d, "kind": "k" * 100_000},
    "zoom geometry partial": lambda d: {
        **d,
        "preprocess": {**d["preprocess"], "zoom": "motion", "zoom_geometry": {"decode": 4}},
    },
    "zoom decode 1e9": lambda d: {
        **d,
        "preprocess": {**d["preprocess"], "zoom_geometry": {"margin": 0.1, "grid": 8, "max_zoom": 4, "decode": 10**9}},
    },
    "zoom grid NaN": lambda d: {
        **d,
        "preprocess": {
            **d["preprocess"],
            "zoom_geometry": {"margin": 0.1, "grid": math.nan, "max_zoom": 4, "decode": 8},
        },
    },
    "zoom window too big": lambda d: {
        **d,
        "num_frames": 15,
        "preprocess": {
            **d["preprocess"],
            "img_size": 128,
            "zoom": "motion",
            "zoom_geometry": {"margin": 0.1, "grid": 8, "max_zoom": 4, "decode": 16},
        },
    },
    "T x size too big": lambda d: {**d, "num_frames": 512, "preprocess": {**d["preprocess"], "img_size": 1024}},
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_metadata_fails_in_one_line_with_exit_1(tmp_path, good, name):
    from lrcn.runtime.vcrun.cli import app

    src, doc = good
    bad = restamp(src, tmp_path / "m.onnx", json.dumps(CRAFTED[name](doc)))
    r = runner.invoke(app, [str(tmp_path / "x.avi"), "--model", str(bad), "--device", "cpu"])
    assert r.exit_code == 1, (name, r.output[:300])
    assert len(r.output.splitlines()) == 1 and r.output.startswith(f"error: {bad}: ") and len(r.output) < 400


def test_deeply_nested_and_oversized_documents(tmp_path, good):
    src, _ = good
    too_long = '{"schema_version": 1, "a": ' + "1" * 5000 + "}"  # more digits than Python converts
    for text in ["[" * 100_000 + "]" * 100_000, '{"a": ' * 50_000 + "1" + "}" * 50_000, " " * (2 << 20), too_long]:
        with pytest.raises(ModelError) as e:
            load(restamp(src, tmp_path / "m.onnx", text))
        assert "\n" not in str(e.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "schema_version",
    "kind",
    "family",
    "class_names",
    "num_frames",
    "preprocess",
    "sample_fps",
    "bidirectional",
    "lstm_layers",
    "hidden_size",
    "latent_dim",
    "precision",
    "parts",
    "metrics",
    "checkpoint_sha256",
    "extra",
]
PRE = ["img_size", "mean", "std", "modality", "channel_order", "layout", "zoom", "zoom_geometry"]
GEOMETRY = ["margin", "grid", "max_zoom", "decode"]
BIG = st.sampled_from(
    [0, -1, 1, 7, 8, 513, 1024, 10**6, 10**9, 2**63, -(2**63), 10**400, 1e308, math.nan, math.inf, True, "4"]
)


@st.composite
def documents(draw, base):
    """A valid document with a few fields replaced by random JSON, huge numbers, or dropped; or pure noise."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    d = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "pre", "geometry"]))
        key = draw(st.sampled_from({"top": FIELDS, "pre": PRE, "geometry": GEOMETRY}[where]))
        pre = d.get("preprocess") if isinstance(d.get("preprocess"), dict) else None
        geometry = pre.get("zoom_geometry") if pre is not None else None
        target = {"top": d, "pre": pre or d, "geometry": geometry if isinstance(geometry, dict) else d}[where]
        action = draw(st.integers(0, 2))
        if action == 0:
            target.pop(key, None)
        else:
            target[key] = draw(json_values if action == 1 else BIG)
    return d


ALLOC_BOUND = 8 << 20  # bytes of Python memory one document may cost the parser and checks


def test_fuzz_metadata_loads_or_fails_in_one_line_within_a_memory_bound(good):
    _, base = good
    seen = {"ok": 0, "refused": 0}

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(documents(base))
    def check(doc):
        text = json.dumps(doc)
        tracemalloc.start()
        try:
            meta = K.ModelMetadata.from_json(text, source="fuzz.onnx")
            seen["ok"] += 1
            clip = (meta.num_frames + 1) * meta.preprocess.channels * meta.preprocess.img_size**2
            assert clip <= 1 << 27 and meta.hidden_size * meta.lstm_layers <= 1 << 20
            assert all(math.isfinite(v) and v > 0 for v in meta.preprocess.std)
        except ModelError as e:
            seen["refused"] += 1
            assert str(e).startswith("fuzz.onnx: ") and "\n" not in str(e) and len(str(e)) < 400
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < ALLOC_BOUND + 4 * len(text)

    check()
    assert seen["ok"] and seen["refused"] > seen["ok"]  # both paths were exercised


def test_fuzzed_documents_through_the_loader(tmp_path, good):
    """A sample of the same documents in a real ONNX file, through LrcnModel: ModelError or a model."""
    src, base = good

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(documents(base))
    def check(doc):
        path = restamp(src, tmp_path / "m.onnx", json.dumps(doc))
        try:
            load(path)
        except ModelError as e:
            assert "\n" not in str(e)
        os.unlink(path)

    check()


def test_external_data_outside_the_model_folder_is_refused(tmp_path):
    """Item 7: the onnxruntime floor (1.24.1) refuses a tensor whose external data lies outside the folder."""
    from onnx import TensorProto
    from onnx import helper as h

    (tmp_path / "secret.bin").write_bytes(b"\x00" * 16)
    weights = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "16")):
        weights.external_data.add(key=key, value=value)
    graph = h.make_graph(
        [h.make_node("Identity", ["w"], ["y"])],
        "g",
        [],
        [h.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [weights],
    )
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / "evil.onnx"
    path.write_bytes(h.make_model(graph, opset_imports=[h.make_opsetid("", 18)], ir_version=9).SerializeToString())
    with pytest.raises(ModelError) as e:
        load(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)
    assert "escapes model directory" in str(e.value)  # refused for the path, not for the missing metadata
