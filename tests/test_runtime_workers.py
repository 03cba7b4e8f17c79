"""vc-run --workers: files classified in parallel processes give a serial run's output, in its order."""

import json

import pytest
from helpers import vc_run


def rows(result) -> list[dict]:
    """The JSON lines, without the timings (the only thing allowed to differ)."""
    out = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    for r in out:
        r.pop("ms", None)
    return out


def test_threads_are_split_between_workers(monkeypatch):
    from lrcn.runtime import parallel

    monkeypatch.setattr(parallel, "usable_cores", lambda: 16)
    assert [parallel.worker_threads(n) for n in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]
    assert parallel.worker_threads(4, threads=3) == 3


@pytest.mark.slow
def test_two_workers_print_what_serial_prints(exported_tiny_run, tiny_data, tmp_path):
    (tmp_path / "broken.avi").write_bytes(b"RIFF not really a video")
    inputs = [tiny_data / "grow", tmp_path / "broken.avi", tiny_data / "move_down", tmp_path / "absent.mp4"]
    common = ["--model", exported_tiny_run, "--device", "cpu", "--json", "--clips", "2"]
    serial = vc_run(*inputs, *common)
    parallel = vc_run(*inputs, *common, "--workers", "2")
    assert serial.exit_code == parallel.exit_code == 1  # the broken and absent files, named
    a, b = rows(serial), rows(parallel)
    assert len(a) == 26 and [("error" in r) for r in a].count(True) == 2
    assert b == a  # same order, labels, probabilities (6 decimals), clips, frames and error lines
    assert [r["source"] for r in b][12] == str(tmp_path / "broken.avi") and "broken.avi" in b[12]["error"]
    assert "classified 24 of 26; 2 failed" in parallel.stderr and "Traceback" not in parallel.output


def test_workers_is_for_files(fake, tiny_data):  # refused before the model loads: any model will do
    r = vc_run(tiny_data, "--model", fake, "--workers", "0")
    assert r.exit_code == 2 and "--workers must be >= 1" in r.output
    r = vc_run(tiny_data, "--model", fake, "--workers", "2", "--stream")
    assert r.exit_code == 2 and "clip mode" in r.output


def test_workers_need_no_torch():
    import subprocess
    import sys

    code = (
        'import sys; sys.modules["torch"] = None\n'
        "import lrcn.runtime.parallel, lrcn.runtime.vcrun.run_clips\n"
        "assert not [m for m in sys.modules if m.startswith(('lrcn.train', 'lrcn.models', 'lrcn.export'))]"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
