"""``python -m course.grading`` (course/grading/__main__.py): refusing a Python without bnlab,
and a learner's selfgrade report (marked ``grading``: it starts a kernel).
"""

import os
import subprocess
import sys

import nbformat
import pytest

from course.layout import REPO_ROOT

SOLUTIONS = REPO_ROOT / "solutions"
EXERCISES = REPO_ROOT / "exercises"


def test_the_grader_refuses_to_run_without_bnlab(tmp_path):
    """A grading Python without the reference package says so and how to fix it, instead of
    grading every answer wrong (issue 15: the hub's Python without bnlab gave 6/15)."""
    fake = tmp_path / "bnlab"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('bnlab is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "course.grading", "check-sandbox"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "grading refused" in proc.stderr and "cannot import bnlab" in proc.stderr
    assert "make venv" in proc.stderr


@pytest.mark.grading
def test_selfgrade_prints_score_per_part(tmp_path, fill):
    nb = nbformat.read(EXERCISES / "ps1_moments" / "moments.ipynb", 4)
    src = nbformat.read(SOLUTIONS / "ps1_moments" / "moments.ipynb", 4)
    nbformat.write(fill(nb, src, {"expectation", "two_pass_var"}), tmp_path / "moments.ipynb")
    out = subprocess.run(
        [sys.executable, "-m", "course.grading", "selfgrade", str(tmp_path / "moments.ipynb")],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "2.0 /  2.0  moments: Part A" in out and "4.0 /  4.0  moments: Part B" in out
    assert "0.0 /  3.0  moments: Part C" in out and "6.0 / 16.0  total" in out
