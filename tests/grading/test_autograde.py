"""Parallel autograding (``python -m course.grading autograde --workers N``).

Each submission is graded in a sandbox of its own, so grading two at a time must give exactly
the scores and the gradebook of grading one at a time; without the sandbox it is refused.
(test_untrusted_submissions.py grades its hostile class two at a time.)
"""

import sqlite3

import pytest

from course import classroom
from course.grading import autograde, runner

A = "ps1_moments"

TOTALS = (
    "SELECT student.id, SUM(grade.auto_score) FROM grade"
    " JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id"
    " JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id"
    " JOIN student ON submitted_assignment.student_id = student.id GROUP BY student.id"
)


def _graded_class(tmp_path, workers):
    root, exchange, kinds = classroom.make_class(tmp_path, A, 4)
    runner.run_nbgrader(root, "collect", A, f"--Exchange.root={exchange}", timeout=600)
    results = autograde.autograde(A, root, workers=workers)
    con = sqlite3.connect(root / "gradebook.db")
    totals = dict(con.execute(TOTALS).fetchall())
    con.close()
    return kinds, [(r.student, r.total, r.scores) for r in results], totals


@pytest.mark.grading
def test_two_workers_grade_exactly_as_one(tmp_path):
    kinds, one, totals_one = _graded_class(tmp_path / "one", 1)
    _, two, totals_two = _graded_class(tmp_path / "two", 2)
    assert kinds == {"s000": "correct", "s001": "blank", "s002": "partial", "s003": "correct"}
    assert one == two and totals_one == totals_two
    assert totals_one["s000"] == 16 and totals_one["s001"] == 0
    assert 0 < totals_one["s002"] < 16


def test_parallel_grading_without_the_sandbox_is_refused(tmp_path):
    with pytest.raises(ValueError, match="workers > 1 needs the sandbox"):
        autograde.autograde(A, tmp_path, workers=2, sandboxed=False)
