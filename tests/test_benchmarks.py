"""The benchmark command runs in its tiny mode, so it cannot rot; so does the class round of
the grading benchmark (with parallel grading), which the tiny mode leaves out."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import classroom

ROOT = Path(__file__).resolve().parents[1]


def benchmark_module(name):
    """A module of benchmarks/ (a folder of scripts, not a package), loaded from its file."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    assert all(r["default_seconds"] > 0 and r["speedup"] > 0 for r in result["allocator"])
    assert [r["chapter"] for r in result["chapters"]] == ["01_expectation_variance"]
    assert result["chapters"][0]["peak_MiB"] > 50
    assert "kernel" in proc.stdout and "peak_MiB" in proc.stdout
    grading = {r["assignment"]: r for r in result["grading"]["assignments"]}
    assert list(grading) == ["(empty notebook)", "ps1_moments"]
    assert grading["ps1_moments"]["score"] == "16/16"
    assert grading["ps1_moments"]["ratio_to_kernel_floor"] > 1
    assert "ratio_to_kernel_floor" in proc.stdout


class TestSyntheticSubmissions:
    @pytest.mark.parametrize("name", ["ps1_moments", "ps3_bn_forward", "ps5_train_inference"])
    def test_kinds_answer_none_half_or_all_solution_cells(self, name):
        src_path = next((ROOT / "solutions" / name).glob("*.ipynb"))
        source = nbformat.read(src_path, 4)
        release = nbformat.read(ROOT / "exercises" / name / src_path.name, 4)
        solved = [c.id for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")]
        answers = {c.id: c.source for c in source.cells}

        def answered(nb):
            return [c.id for c in nb.cells if c.id in solved and c.source == answers[c.id]]

        assert answered(classroom.submission(release, source, "blank")) == []
        assert answered(classroom.submission(release, source, "correct")) == solved
        partial = answered(classroom.submission(release, source, "partial"))
        assert partial == solved[: len(solved) // 2] and 0 < len(partial) < len(solved)
        assert answered(release) == []  # the release itself was not changed


@pytest.mark.grading
def test_class_round_in_parallel_exports_the_same_grades():
    """Three synthetic students on problem set 1, graded end to end with 1 and 2 workers."""
    out = benchmark_module("autograding").class_rounds("ps1_moments", 3, workers=(1, 2))
    assert out["kinds"] == {"correct": 1, "blank": 1, "partial": 1}
    scores = out["scores_by_kind"]
    assert scores["correct"] == [16.0] and scores["blank"] == [0.0]
    assert 0 < scores["partial"][0] < 16
    assert out["parallel"]["grades_identical"]
    for r in out["rounds"]:
        assert r["total_seconds"] >= r["autograde_seconds"] > 0
