"""vc-bench: timing helpers, option checks, one tiny bench end to end and its markdown table."""

import json
import subprocess
import sys

import pytest
from conftest import REPO
from typer.testing import CliRunner

from lrcn.bench.cli import app
from lrcn.bench.config import BenchConfig
from lrcn.bench.table import render
from lrcn.bench.timing import Side, alternate, quantile, ratio, stats

runner = CliRunner()


def test_quantiles_and_stats():
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.25) == 2.0
    s = stats([5.0, 1.0, 3.0])
    assert s == {"median": 3.0, "p25": 2.0, "p75": 4.0, "n": 3}


def test_alternate_runs_sides_in_turn_and_ratios_compare_medians():
    order = []
    clock = {"t": 0.0}

    def fake(name, cost):
        def call():
            order.append(name)
            clock["t"] += cost

        return call

    slow, fast = Side("A", fake("A", 0.0)), Side("B", fake("B", 0.0))
    out = alternate([slow, fast], rounds=3, block_s=0.0)
    assert order == ["A", "B"] * 4  # one warm-up call each, then A B A B A B
    assert out["A"]["n"] == 3 and out["A"]["rounds"] == 3
    slow.samples, slow.rounds = [10.0, 12.0, 14.0], [10.0, 12.0, 14.0]
    fast.samples, fast.rounds = [2.0, 3.0, 4.0], [2.0, 3.0, 4.0]
    r = ratio(slow, fast)
    assert r["ratio"] == 4.0 and r["round_p25"] <= r["ratio"] <= r["round_p75"] + 1.0


def test_alternate_stops_at_max_s_after_one_round():
    sides = [Side("A", lambda: None), Side("B", lambda: None)]
    out = alternate(sides, rounds=50, block_s=0.01, max_s=1e-6)
    assert out["A"]["rounds"] == 1 and out["B"]["rounds"] == 1


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"models": ["lenet"]}, "^models must be"),
        ({"sections": ["speed"]}, "^sections takes"),
        ({"device": "tpu"}, "^device must be"),
        ({"repeat": 0}, "^repeat must be >= 1"),
        ({"threads": 0}, "^threads must be >= 1"),
    ],
)
def test_config_refuses_nonsense(kw, needle):
    with pytest.raises(ValueError, match=needle):
        BenchConfig(**kw)


def test_cli_refuses_bad_options_in_one_line(tmp_path):
    r = runner.invoke(app, ["--model", "lenet", "--workdir", str(tmp_path)])
    assert r.exit_code == 2 and "--model must be" in r.output and "Traceback" not in r.output


def test_cuda_without_a_gpu_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = runner.invoke(app, ["--device", "cuda", "--workdir", str(tmp_path)])
    assert r.exit_code == 1 and "--device cuda: PyTorch sees no CUDA device" in r.output
    assert not list(tmp_path.iterdir())  # refused before any work


@pytest.mark.slow
def test_tiny_bench_writes_every_section_and_renders(tmp_path):
    out = tmp_path / "bench.json"
    args = [
        "--model",
        "pretrained",
        "--backbone",
        "resnet18",
        "--img-size",
        "32",
        "--frames",
        "4",
        "--repeat",
        "2",
        "--threads",
        "1",
        "--batch",
        "2",
        "--block-seconds",
        "0.02",
        "--max-seconds",
        "5",
        "--train-clips",
        "4",
        "--e2e-seconds",
        "0.5",
        "--workdir",
        str(tmp_path / "work"),
        "--json",
        str(out),
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    m = doc["models"]["pretrained"]
    assert m["subject"]["weights"].startswith("random") and "random weights" in m["subject"]["note"]
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["versions"]["onnxruntime"]
    for section in ("clip", "stream", "e2e", "train", "memory", "profile"):
        assert section in m and "error" not in m[section], (section, m.get(section))
    assert doc["flow"]["sizes"]["128px"]["median"] > 0  # once per bench, not per model
    for key in ("batch1", "batch"):
        sides = m["clip"][key]["sides"]
        assert set(sides) == {"eager", "fp32", "fp16", "int8", "int8_dynamic"}
        assert all(s["median"] > 0 and s["p25"] <= s["median"] <= s["p75"] and s["n"] >= 2 for s in sides.values())
        assert all(r["ratio"] > 0 for r in m["clip"][key]["speedup_vs_eager"].values())
    assert m["clip"]["batch"]["batch"] == 2
    # the exported model and eager PyTorch agree on the real clips (same weights, same input)
    assert m["clip"]["agreement"]["eager"]["max_abs_dprobs"] < 1e-4
    stream = m["stream"]
    assert set(stream["sides"]) == {"eager_rerun", "window", "step", "window_int8", "step_int8"}
    assert all(s["fps"] > 0 for s in stream["sides"].values())
    for mode in ("window", "step", "window_int8", "step_int8"):
        e = m["e2e"]["modes"][mode]
        assert e["read"] > 0 and 0 < e["processed"] <= e["read"] and e["dropped"] == e["read"] - e["processed"]
        assert e["fps"] > 0
    t = m["train"]
    assert t["clips"] == 4 and t["feature_build_s"] > 0
    assert all(v["median"] > 0 for v in t["epoch_s"].values()) and t["speedup"]["ratio"] > 0
    assert m["memory"]["runtime_mb"] > 0 and m["memory"]["torch_mb"] > 0
    # PyTorch and its libraries are far bigger than numpy + OpenCV + onnxruntime
    assert m["memory"]["torch_mb"] > m["memory"]["runtime_mb"]

    prof = m["profile"]
    assert prof["fp32"]["kernel_ms"] > 0 and any(o["op"] == "Conv" for o in prof["fp32"]["top_ops"])
    assert any(o["op"] == "ConvInteger" for o in prof["int8_dynamic"]["top_ops"])  # vc-export's int8 before
    assert any(o["op"] == "QLinearConv" for o in prof["int8"]["top_ops"])  # and now: static Conv

    md = render([doc])
    for heading in (
        "### Targets",
        "### Clip mode",
        "### Streaming",
        "### End to end",
        "### Training",
        "### Memory",
        "### Profile",
    ):
        assert heading in md
    assert "| pretrained | eager |" in md and "| pretrained | onnxruntime int8 |" in md
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "make_table.py"), str(out), "--notes", "none"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout.startswith("# Benchmarks") and "### Clip mode" in r.stdout, r.stderr


def test_flow_cost_alone_measures_both_sizes_without_a_model(tmp_path):
    out = tmp_path / "flow.json"
    args = ["--only", "flow", "--repeat", "1", "--block-seconds", "0.01", "--workdir", str(tmp_path / "w")]
    r = runner.invoke(app, [*args, "--json", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["models"] == {} and not (tmp_path / "w" / "models").exists()
    flow = doc["flow"]
    assert set(flow["sizes"]) == {"64px", "128px"} and flow["preset"] == "fast"
    assert all(s["median"] > 0 and s["fps"] > 0 for s in flow["sizes"].values())
    assert set(flow["adiff"]) == {"64px", "128px"} and all(s["median"] > 0 for s in flow["adiff"].values())
    md = render([doc])
    assert "### Optical flow input" in md and "| 64px |" in md and "| 8 px |" in md and "| adiff 64px |" in md


def test_table_marks_missing_and_failed_sections():
    doc = {
        "config": {"device": "cpu", "batch": 8, "repeat": 3, "block_s": 0.3, "max_s": 60.0},
        "machine": {
            "cpu": "X",
            "cores": 2,
            "arch": "x86_64",
            "memory_gib": 1,
            "os": "L",
            "python": "3",
            "versions": {"torch": "t", "onnxruntime": "o", "onnx": "n", "cv2": "c"},
            "date": "d",
            "command": "vc-bench",
        },
        "threads": {"torch": 2, "onnxruntime_intra_op": 2},
        "isolation": "i",
        "models": {"convlstm": {"subject": {"note": "random"}, "clip": {"error": "boom: it broke"}}},
    }
    md = render([doc])
    assert "boom: it broke" in md
    assert "| Clip latency, onnxruntime fp32 over eager, batch 1 | convlstm | >= 3× | – | not measured |" in md


def test_results_written_before_the_stable_keys_render_as_committed():
    """benchmarks/results-cpu.json has the display words as keys (bench_version 1): read through
    bench.labels.upgrade, it (with the streams results beside it) renders every table row of the
    committed benchmarks/README.md."""
    docs = [
        json.loads((REPO / "benchmarks" / name).read_text())
        for name in ("results-cpu.json", "results-streams-cpu.json")
    ]
    assert docs[0]["bench_version"] == 1
    md = render(docs).splitlines()
    rows = [line for line in (REPO / "benchmarks" / "README.md").read_text().splitlines() if line.startswith("| ")]
    assert (
        len(rows) > 40
        and "| pretrained | onnxruntime int8 dynamic | 569 ms [566–585] | 1.12× [1.08–1.18] | 1.48 "
        "clips/s (2 calls) | 1.60× [1.52–1.69] | 88% |"
        in rows
    )
    assert [r for r in rows if r not in md] == []
