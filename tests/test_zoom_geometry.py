"""The zoom's geometry (box margin and grid, largest zoom, decode size) is recorded with the model:
a model runs on the pixels it trained on, whatever later code defaults to, and an older one keeps
the geometry it was cut with."""

import hashlib
import json
import os

import pytest
from helpers import fake_model

from lrcn.runtime.preprocess import PreprocessSpec
from lrcn.runtime.roi import FIRST_GEOMETRY, ZoomGeometry


def test_a_spec_saved_before_the_geometry_was_recorded_reads_as_the_first_geometry():
    old = {"img_size": 64, "modality": "diff", "zoom": "motion", "mean": [0.5] * 3, "std": [0.5] * 3}
    spec = PreprocessSpec.from_dict(old)
    assert spec.zoomed == FIRST_GEOMETRY
    new = PreprocessSpec(img_size=64, zoom="motion", zoom_geometry=ZoomGeometry(margin=0.1, grid=8, decode=6))
    back = PreprocessSpec.from_dict(json.loads(json.dumps(new.to_dict())))
    assert back == new and back.zoomed == ZoomGeometry(margin=0.1, grid=8, decode=6)
    assert PreprocessSpec(img_size=64).zoomed is None  # whole frames: no geometry is read


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"margin": -0.1}, "margin must be"),
        ({"grid": 0}, "grid must be an integer"),
        ({"grid": 8.0}, "grid must be an integer"),
        ({"max_zoom": 0.5}, "max_zoom must be"),
        ({"decode": 2}, "decode must be an integer from max_zoom (4)"),
        ({"decode": 64}, "decode must be an integer from max_zoom"),
        ({"decode": True}, "decode must be an integer"),
    ],
)
def test_a_geometry_out_of_range_is_refused_with_its_reason(kw, words):
    with pytest.raises(ValueError, match="zoom geometry: ") as e:
        ZoomGeometry(**kw)
    assert words in str(e.value)


def test_the_model_records_its_geometry_and_the_schema_says_who_can_read_it(tmp_path):
    from lrcn.runtime.contract import SCHEMA_VERSION

    today = load(fake_model(tmp_path / "today", zoom="motion"))
    assert today.meta.preprocess.zoomed == ZoomGeometry()
    doc = json.loads(today.meta.to_json())
    assert doc["preprocess"]["zoom_geometry"] == ZoomGeometry().to_dict()
    # a geometry the schema-2 readers did not know: they must refuse the model, not cut it their way
    assert doc["schema_version"] == 3 < SCHEMA_VERSION  # 4 is for a region (test_region)
    first = load(fake_model(tmp_path / "first", zoom="motion", zoom_geometry=FIRST_GEOMETRY))
    assert json.loads(first.meta.to_json())["schema_version"] == 2  # what any zoom-aware lrcn reads
    plain = load(fake_model(tmp_path / "plain"))
    assert json.loads(plain.meta.to_json())["schema_version"] == 1


def test_a_model_without_the_key_is_cut_with_the_first_geometry(tmp_path):
    """A schema-2 export from before: its document has no zoom_geometry."""
    from lrcn.runtime.contract import ModelMetadata

    doc = json.loads(load_doc(fake_model(tmp_path / "old", zoom="motion", zoom_geometry=FIRST_GEOMETRY)))
    del doc["preprocess"]["zoom_geometry"]
    meta = ModelMetadata.from_json(json.dumps(doc), "old.onnx")
    assert meta.preprocess.zoomed == FIRST_GEOMETRY


def load(path):
    from lrcn.runtime.model import LrcnModel
    from lrcn.runtime.session import SessionConfig

    return LrcnModel(path, SessionConfig(device="cpu"))


def load_doc(path) -> str:
    import onnx

    from lrcn.runtime.contract import METADATA_KEY

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return props[METADATA_KEY]


def test_training_configs_carry_the_geometry_and_an_old_run_resumes_with_the_first():
    from lrcn.models.config import ModelConfig
    from lrcn.train.config import DataConfig, from_dict, preprocess_spec

    cfg = DataConfig(zoom="motion")
    assert cfg.zoomed == ZoomGeometry() and DataConfig().zoomed is None
    assert preprocess_spec(ModelConfig(), cfg).zoomed == ZoomGeometry()
    saved = {k: v for k, v in cfg.__dict__.items() if k != "zoom_geometry"}  # config.json before the field
    assert from_dict(DataConfig, saved).zoomed == FIRST_GEOMETRY
    assert from_dict(DataConfig, {**saved, "zoom_geometry": {**FIRST_GEOMETRY.to_dict(), "decode": 6}}).zoomed == (
        ZoomGeometry(margin=0.25, grid=16, max_zoom=4.0, decode=6)
    )
    with pytest.raises(ValueError, match="zoom geometry: decode must be"):
        DataConfig(zoom="motion", zoom_geometry={**ZoomGeometry().to_dict(), "decode": 100})


def test_the_clip_cache_keeps_the_first_geometrys_names_and_parts_the_others(tmp_path):
    from lrcn.train.data import CACHE_VERSION, clip_cache_path

    video = tmp_path / "v.avi"
    video.write_bytes(b"x" * 10)
    st = os.stat(video)
    ident = f"{CACHE_VERSION}|{os.path.abspath(video)}|{st.st_size}|{st.st_mtime_ns}|8|32|zoom=motion|box=8"
    before = tmp_path / "clips" / f"{hashlib.sha1(ident.encode()).hexdigest()}.npz"  # the name before this change
    assert clip_cache_path(tmp_path, video, 8, 32, FIRST_GEOMETRY, 8) == before
    others = {clip_cache_path(tmp_path, video, 8, 32, g, 8) for g in (ZoomGeometry(), ZoomGeometry(decode=6))}
    assert len(others) == 2 and before not in others


def test_saved_geometries_are_whole_or_refused_in_one_line():
    from lrcn.train.config import DataConfig, from_dict

    with pytest.raises(ValueError, match="zoom geometry must be an object with margin, grid, max_zoom, decode"):
        PreprocessSpec.from_dict({"img_size": 64, "zoom": "motion", "zoom_geometry": {"decode": 4}})
    with pytest.raises(ValueError, match="zoom geometry must be an object"):
        PreprocessSpec.from_dict({"img_size": 64, "zoom": "motion", "zoom_geometry": None})
    with pytest.raises(ValueError, match="zoom geometry must be an object"):
        DataConfig(zoom="motion", zoom_geometry={"decode": 4})
    # a key from a later lrcn is passed over, as the rest of a saved config's are
    later = {**ZoomGeometry().to_dict(), "shape": "round"}
    assert from_dict(DataConfig, {"zoom": "motion", "zoom_geometry": later}).zoomed == ZoomGeometry()
    with pytest.raises(ValueError, match="margin must be a number"):
        ZoomGeometry(margin=10**400)


def test_two_plain_models_are_the_same_preprocessing_whichever_lrcn_wrote_them(tmp_path):
    """A hot reload refuses other preprocessing: an unzoomed export from before the geometry was
    recorded (no key) and one from today must still swap."""
    from lrcn.runtime.contract import ModelMetadata
    from lrcn.serve.reload import contract_change

    today = load(fake_model(tmp_path / "today", modality="diff"))
    doc = json.loads(load_doc(fake_model(tmp_path / "old", modality="diff")))
    del doc["preprocess"]["zoom_geometry"]
    old = ModelMetadata.from_json(json.dumps(doc), "old.onnx")
    assert contract_change(old, today.meta) is None
    zoomed = load(fake_model(tmp_path / "zoomed", modality="diff", zoom="motion"))
    first = load(fake_model(tmp_path / "first", modality="diff", zoom="motion", zoom_geometry=FIRST_GEOMETRY))
    assert contract_change(first.meta, zoomed.meta) == "other preprocessing"  # cut otherwise: refused
