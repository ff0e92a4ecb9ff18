"""The benchmark command runs in its tiny mode, so it cannot rot."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.book
def test_tiny_benchmark_runs(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "run.py", "--tiny", "--out", str(out)],
        cwd=ROOT / "benchmarks",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    kernels = result["kernels"]["rows"]
    assert {r["kernel"] for r in kernels} == {
        "bnlab_forward",
        "bnlab_backward",
        "bnlab_backward_staged",
    }
    assert all(r["seconds"] > 0 and r["ratio_to_torch"] > 0 for r in kernels)
    assert [r["chapter"] for r in result["chapters"]] == ["01_expectation_variance"]
    assert result["chapters"][0]["peak_MiB"] > 50
    assert "kernel" in proc.stdout and "peak_MiB" in proc.stdout
