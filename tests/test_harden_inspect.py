"""Issue 17 item 3 (and its Low item): vc-inspect serves one copied file on 127.0.0.1, whatever its folder and name."""

import json
import shutil
import socket
import stat
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import fake_model
from typer.testing import CliRunner

from lrcn.export.inspect import serve
from lrcn.export.inspect_cli import app

runner = CliRunner()
HOSTILE = 'm"><img src=x onerror=alert(1)>.onnx'


@pytest.fixture
def model(tmp_path):
    path = fake_model(tmp_path / "home")
    (tmp_path / "home" / "id_ed25519").write_text("PRIVATE KEY")  # what Netron handed out before
    return path


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def test_serves_a_private_copy_of_the_one_file_on_127_0_0_1(model):
    served = serve(model)
    try:
        assert served.url.startswith("http://127.0.0.1:") and not served.url.endswith(":8080")
        assert [p.name for p in served.folder.iterdir()] == ["model.onnx"]
        assert stat.S_IMODE(served.folder.stat().st_mode) == 0o700
        assert get(served.url + "/data/model.onnx") == (200, model.read_bytes())
        for leak in ("id_ed25519", "fake.encoder.onnx", "../home/id_ed25519", "%2e%2e/id_ed25519"):
            status, body = get(served.url + "/data/" + leak)
            assert status == 404 and b"PRIVATE" not in body, leak
    finally:
        served.close()
    assert not served.folder.exists()


def test_a_hostile_file_name_never_reaches_the_page(model):
    hostile = shutil.copy(model, model.with_name(HOSTILE))
    served = serve(hostile)
    try:
        status, page = get(served.url + "/")
        assert status == 200 and b"onerror" not in page and b"alert(" not in page and b"model.onnx" in page
    finally:
        served.close()


def test_a_busy_port_is_one_line(model):
    temps = set(Path(tempfile.gettempdir()).glob("lrcn-inspect-*"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = runner.invoke(app, [str(model), "--port", str(port), "--no-browse"])
    assert r.exit_code == 1, r.output
    err = r.output.splitlines()[-1]
    assert (
        err.startswith(f"error: --port: cannot serve Netron at port {port} on 127.0.0.1")
        and "Traceback" not in r.output
    )
    assert set(Path(tempfile.gettempdir()).glob("lrcn-inspect-*")) == temps  # the copy went too


def test_unknown_element_type_and_escapes_in_names_are_one_line_or_shown(tmp_path, model):
    import onnx

    proto = onnx.load(str(model))
    proto.graph.input[0].type.tensor_type.elem_type = 999
    proto.graph.output[0].name = "logits\x1b]52;c;aGk=\x07"
    proto.metadata_props.add(key="note\x1b[2J", value="x\ny")
    odd = tmp_path / "odd.onnx"
    onnx.save(proto, str(odd))
    r = runner.invoke(app, [str(odd), "--summary-only"])
    assert r.exit_code == 0, r.output
    assert "elem_type 999 (unknown)" in r.output and "\x1b" not in r.output and "\x07" not in r.output
    assert "note?[2J: x?y" in r.output
    r = runner.invoke(app, [str(odd), "--summary-only", "--json"])
    assert r.exit_code == 0 and "\x1b" not in r.output and json.loads(r.output)["inputs"][0]["type"].startswith("elem")
