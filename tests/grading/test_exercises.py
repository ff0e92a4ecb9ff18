"""course.grading.exercises: the student versions leak nothing (the check of ``exercises/``
starts kernels: marked ``grading``).
"""

import copy

import nbformat
import pytest

from course.grading import exercises
from course.layout import REPO_ROOT

SOLUTIONS = REPO_ROOT / "solutions"
EXERCISES = REPO_ROOT / "exercises"


def test_leak_detected():
    src = nbformat.read(SOLUTIONS / "ps3_bn_forward" / "bn_forward.ipynb", 4)
    ex = nbformat.read(EXERCISES / "ps3_bn_forward" / "bn_forward.ipynb", 4)
    assert exercises.leaks(ex, src) == []
    leaked = copy.deepcopy(ex)
    cell = next(c for c in leaked.cells if c.get("id") == "mean_square")
    cell.source = cell.source.replace("raise NotImplementedError()", "return var / (var + eps)")
    assert any("protected line" in m for m in exercises.leaks(leaked, src))


@pytest.mark.grading
def test_exercises_are_generated_and_leak_nothing():
    assert exercises.check() == []
