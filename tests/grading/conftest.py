"""Tests of the grading pipeline, ``course.grading``: ``test_<module>.py`` tests
``course/grading/<module>.py`` (``test_main.py`` its ``__main__``). Cross-cutting tests are named
for what they test: the problem sets (``test_problem_sets.py``), one instructor round
(``test_instructor_round.py``), a class that attacks the grader or makes honest mistakes
(``test_untrusted_submissions.py``) and the held-out attacks (``test_attacks.py``), each graded end
to end through the real pipeline.
"""

import copy

import pytest

from course.grading import runner


@pytest.fixture
def nbgrader():
    """``nbgrader(root, *args, check=True)``: nbgrader's command in the course directory `root`."""

    def run(root, *args, check=True):
        return runner.run_nbgrader(root, *args, check=check, timeout=900)

    return run


def _fill(release, source, ids):
    """The release notebook with the solution cells `ids` copied from the source."""
    nb = copy.deepcopy(release)
    sols = {c.id: c.source for c in source.cells}
    for cell in nb.cells:
        if cell.get("id") in ids:
            cell.source = sols[cell.id]
    return nb


@pytest.fixture
def fill():
    """``fill(release, source, ids)``: the release notebook with the solution cells `ids` copied
    from the source."""
    return _fill
