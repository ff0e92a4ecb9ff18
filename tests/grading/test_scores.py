"""course.grading.scores: which part a graded cell belongs to, and a result's totals."""

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.grading.scores import Result, part_of_cells


def _graded(gid, points):
    meta = {"grade_id": gid, "grade": True, "solution": False, "locked": True, "points": points}
    return new_code_cell("assert True", metadata={"nbgrader": meta})


def _answer(gid):
    meta = {"grade_id": gid, "grade": False, "solution": True, "locked": False}
    return new_code_cell("x = 1", metadata={"nbgrader": meta})


def test_a_graded_cell_belongs_to_the_part_above_it():
    nb = new_notebook(
        cells=[
            _graded("t0", 1),
            new_markdown_cell("## Part A (2 points)\n\nCompute the mean."),
            _answer("mean"),
            _graded("t1", 2),
            new_markdown_cell("Some text about ## Part B in passing."),
            new_markdown_cell("  ## Part B (1 point)"),
            _graded("t2", 1),
        ]
    )
    assert part_of_cells(nb) == {
        "t0": "(before the first part)",
        "t1": "Part A (2 points)",
        "t2": "Part B (1 point)",
    }


def test_totals_and_parts_add_up_over_notebooks():
    result = Result("s1", "ps1")
    result.scores = {"a": {"t1": (1.0, 2.0), "t2": (0.5, 1.0)}, "b": {"t3": (3.0, 3.0)}}
    result.parts = {"a": {"t1": "Part A", "t2": "Part A"}, "b": {}}
    assert result.total == 4.5 and result.max_total == 6.0
    assert result.by_part() == {"a: Part A": (1.5, 3.0), "b: ?": (3.0, 3.0)}


def test_an_empty_result_scores_nothing():
    result = Result("s1", "ps1")
    assert (result.total, result.max_total, result.by_part()) == (0, 0, {})
