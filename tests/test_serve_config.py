"""vc-serve's configuration: checked before anything starts, one line naming the file and the key, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

pytest.importorskip("yaml", reason="the serve extra is not installed (pip install -e '.[serve]')")


def serve_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lrcn.serve.cli", *args],
        cwd=REPO,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


def load(tmp_path, text: str, model: bool = True):
    from lrcn.serve.config import load

    if model:
        (tmp_path / "m.onnx").write_bytes(b"x")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load(path)


def test_a_full_config_loads_with_types_and_relative_paths(tmp_path):
    cfg = load(
        tmp_path,
        "model: m.onnx\nhttp: {port: 9000}\nevents: {threshold: 0.7}\nsinks: ['jsonl:ev.jsonl']\n"
        "streams:\n  - {name: door, source: 'rtsp://cam/door', sample_fps: 5, smooth: 3,"
        " events: {min_event: 2}}\n",
    )
    assert cfg.model == str(tmp_path / "m.onnx") and cfg.http.port == 9000 and cfg.http.host == "127.0.0.1"
    assert cfg.events.threshold == 0.7 and cfg.sinks == [f"jsonl:{tmp_path / 'ev.jsonl'}"]
    s = cfg.streams[0]
    assert (s.name, s.source, s.sample_fps, s.smooth, s.events.min_event) == ("door", "rtsp://cam/door", 5.0, 3, 2.0)


@pytest.mark.parametrize(
    "text, key",
    [
        ("model: m.onnx\nhttp: {prot: 80}\n", "http.prot: unknown key"),
        (
            "model: m.onnx\nstreams: [{name: a, source: '0', sample_fps: fast}]\n",
            "streams[0].sample_fps: expected a number",
        ),
        ("model: m.onnx\nstreams: [{name: a}]\n", "streams[0].source: missing"),
        ("model: m.onnx\nstreams: {name: a}\n", "streams: expected a list"),
        ("model: m.onnx\nhttp: {port: '80'}\n", "http.port: expected an integer"),
        (
            "model: m.onnx\nstreams: [{name: a, source: '0'}, {name: a, source: '1'}]\n",
            "streams[1].name: 'a' is used twice",
        ),
        ("model: m.onnx\nhttp: {host: 0.0.0.0}\n", "http.host: 0.0.0.0 is not a loopback address"),
        ("model: [m.onnx\n", "not valid YAML"),
        ("model: m.onnx\nstreams: [{name: a, source: '0', threshold: 2}]\n", "threshold must be in [0, 1], got 2"),
        ("model: m.onnx\nstreams: [{name: a, source: '0', smooth: 0}]\n", "smooth must be >= 1, got 0"),
        ("model: m.onnx\nevents: {min_event: -1}\n", "events: min_event must be >= 0 seconds"),
        (
            "model: m.onnx\nstreams: [{name: a, source: 'udp://1.2.3.4:5'}]\n",
            "streams[0].source: udp://1.2.3.4:5: 'udp'",
        ),
    ],
)
def test_bad_configs_are_one_line_naming_the_key(tmp_path, text, key):
    from lrcn.serve.config import ConfigError

    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'c.yaml'}: ") and key in msg and "\n" not in msg


def test_the_cli_refuses_a_missing_model_and_an_unknown_key_with_exit_2(tmp_path):
    cfg = tmp_path / "demo.yaml"
    cfg.write_text("model: nothing.onnx\nstreams: [{name: a, source: 'http://127.0.0.1:9/x'}]\n")
    r = serve_cli(str(cfg))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{cfg}: model: " in lines[0] and "no such file" in lines[0]
    (tmp_path / "m.onnx").write_bytes(b"x")
    cfg.write_text("model: m.onnx\nstreem: []\n")
    r = serve_cli(str(cfg))
    assert r.returncode == 2 and "demo.yaml: streem: unknown key" in r.stderr


def test_the_cli_needs_a_token_off_loopback_and_names_for_streams(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x")
    r = serve_cli("--model", str(tmp_path / "m.onnx"), "--host", "0.0.0.0")
    assert r.returncode == 2 and "--token" in r.stderr
    r = serve_cli("--model", str(tmp_path / "m.onnx"), "--stream", "http://x/y")
    assert r.returncode == 2 and "--stream: expected NAME=SOURCE" in r.stderr
    r = serve_cli()
    assert r.returncode == 2 and "give a config file" in r.stderr


def test_the_runtime_never_imports_serve():
    code = (
        "import sys, lrcn.runtime, lrcn.runtime.scheduler, lrcn.runtime.vcrun.cli; "
        "bad = [m for m in sys.modules if m.startswith(('lrcn.serve', 'fastapi', 'uvicorn', 'torch'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_the_readme_sample_config_is_valid(tmp_path):
    import yaml

    from lrcn.serve.config import ServeConfig, build, check

    text = (REPO / "README.md").read_text().split("## Serve", 1)[1]
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = build(ServeConfig, yaml.safe_load(block))
    (tmp_path / "m.onnx").write_bytes(b"x")
    cfg.model = str(tmp_path / "m.onnx")
    check(cfg)
    assert [s.name for s in cfg.streams] == ["door", "till"] and cfg.http.host == "127.0.0.1"


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path):
    import socket

    from helpers import fake_model

    model = fake_model(tmp_path / "model")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = serve_cli("--model", str(model), "--device", "cpu", "--port", str(s.getsockname()[1]))
    assert r.returncode == 1 and "address already in use" in r.stderr


def test_sinks_are_checked_before_the_model_loads(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"not a model")
    cfg = tmp_path / "s.yaml"
    cfg.write_text("model: m.onnx\nsinks: ['kafka://x/y']\n")
    r = serve_cli(str(cfg))
    assert r.returncode == 2 and "s.yaml: sinks[0]: 'kafka://x/y': expected jsonl:PATH" in r.stderr
    cfg.write_text("model: m.onnx\nsinks: ['jsonl:ev.jsonl#colour=red']\n")
    r = serve_cli(str(cfg))
    assert r.returncode == 2 and "sinks: --sink" in r.stderr and "unknown option 'colour'" in r.stderr
