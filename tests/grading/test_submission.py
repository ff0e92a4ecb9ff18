"""course.grading.submission: what of a learner's notebook is graded, and in which order.

Tiny notebooks built by hand, no kernel and no sandbox. The course's notebook is

    0 markdown "# Title"         3 test   t1 (1 point)     6 test     t2
    1 locked   setup             4 markdown "## Part B"     7 provided helper (no nbgrader)
    2 answer   a1                5 answer   a2

and every expectation below is written out from the rules in the module's docstring.
"""

import copy

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.grading import submission


def _nbgrader(gid, *, solution=False, grade=False, locked=False, points=None):
    meta = {"grade_id": gid, "solution": solution, "grade": grade, "locked": locked}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": {**meta, "schema_version": 3}}


def answer(gid, source):
    return new_code_cell(source, id=gid, metadata=_nbgrader(gid, solution=True))


def graded(gid, source):
    return new_code_cell(source, id=gid, metadata=_nbgrader(gid, grade=True, locked=True, points=1))


def locked(gid, source):
    return new_code_cell(source, id=gid, metadata=_nbgrader(gid, locked=True))


def markdown(cid, source):
    return new_markdown_cell(source, id=cid)


COURSE = new_notebook(
    cells=[
        markdown("title", "# Title"),
        locked("setup", "import numpy as np"),
        answer("a1", "def f():\n    return 1"),
        graded("t1", "assert f() == 1\n### BEGIN HIDDEN TESTS\nassert f() + 1 == 2"),
        markdown("part-b", "## Part B"),
        answer("a2", "def g():\n    return 2"),
        graded("t2", "assert g() == 2"),
        new_code_cell("def helper():\n    return 3", id="helper"),
    ]
)


def learner(*edits):
    """The learner's notebook: the course's cells by id, each as given or with a new source."""
    by_id = {c.id: c for c in COURSE.cells}
    cells = []
    for edit in edits:
        if isinstance(edit, str):
            cells.append(copy.deepcopy(by_id[edit]))
        elif isinstance(edit, tuple):
            cell = copy.deepcopy(by_id[edit[0]])
            cell.source = edit[1]
            cells.append(cell)
        else:
            cells.append(edit)
    ids = [c.id for c in cells]
    for n, cell in enumerate(cells):
        if cell.id in ids[:n]:  # a copy gets an id of its own, as Jupyter gives it
            cell.id = f"copy-{n}"
    return new_notebook(cells=cells)


HONEST = ("title", "setup", ("a1", "def f(): return 1"), "t1", "part-b",
          ("a2", "def g(): return 2"), "t2", "helper")  # fmt: skip


def planned(student):
    steps, notes = submission.plan(copy.deepcopy(COURSE), student)
    return [(s.kind, s.source) for s in steps], notes


class TestPlan:
    def test_an_honest_notebook_runs_in_the_course_order(self):
        steps, notes = planned(learner(*HONEST))
        assert steps == [
            ("markdown", "# Title"),
            ("provided", "import numpy as np"),
            ("answer", "def f(): return 1"),
            ("test", "assert f() == 1\n### BEGIN HIDDEN TESTS\nassert f() + 1 == 2"),
            ("markdown", "## Part B"),
            ("answer", "def g(): return 2"),
            ("test", "assert g() == 2"),
            ("provided", "def helper():\n    return 3"),
        ]
        assert notes == []

    def test_steps_name_the_course_cell_they_come_from(self):
        steps, _ = submission.plan(copy.deepcopy(COURSE), learner(*HONEST))
        assert [s.s_index for s in steps] == [None, 1, 2, 3, None, 5, 6, 7]

    def test_feedback_shows_the_courses_markdown_never_the_learners(self):
        student = learner(("title", "# <script>alert(1)</script>"), *HONEST[1:])
        student.cells.insert(2, new_markdown_cell("my own notes"))
        steps, _ = planned(student)
        assert [src for kind, src in steps if kind == "markdown"] == ["# Title", "## Part B"]

    def test_a_locked_cell_runs_as_the_course_has_it(self):
        steps, _ = planned(learner("title", ("setup", "import os; os.remove('x')"), *HONEST[2:]))
        assert steps[1] == ("provided", "import numpy as np")

    def test_an_unlocked_provided_cell_runs_as_the_learner_edited_it(self):
        steps, _ = planned(learner(*HONEST[:-1], ("helper", "def helper():\n    return 4")))
        assert steps[-1] == ("provided", "def helper():\n    return 4")

    def test_an_edited_test_runs_from_the_courses_copy(self):
        steps, notes = planned(learner(*HONEST[:3], ("t1", "pass"), *HONEST[4:]))
        assert steps[3] == ("test", COURSE.cells[3].source)
        assert notes == []

    def test_a_deleted_test_goes_after_its_predecessors_and_the_learners_cells(self):
        mine = new_code_cell("print(f())")
        steps, notes = planned(learner(*HONEST[:3], mine, *HONEST[4:]))
        code = [step for step in steps if step[0] != "markdown"]
        assert code[1:5] == [
            ("answer", "def f(): return 1"),
            ("extra", "print(f())"),
            ("test", COURSE.cells[3].source),
            ("answer", "def g(): return 2"),
        ]
        assert notes == []

    def test_a_copied_test_runs_once(self):
        steps, notes = planned(learner(*HONEST[:4], "t1", *HONEST[4:]))
        assert [kind for kind, _ in steps].count("test") == 2
        assert notes == ["a copy of test t1 was ignored (tests run from the course's copy)"]

    def test_a_test_moved_before_its_answer_runs_after_it(self):
        steps, _ = planned(
            learner("title", "setup", "t1", ("a1", "def f(): return 1"), *HONEST[4:])
        )
        assert steps[2:4] == [
            ("answer", "def f(): return 1"),
            ("test", COURSE.cells[3].source),
        ]

    def test_a_test_moved_later_runs_where_the_learner_has_it(self):
        student = learner(*HONEST[:3], "part-b", ("a2", "def g(): return 2"), "t1", "t2", "helper")
        steps, _ = planned(student)
        assert [kind for kind, _ in steps] == [
            "markdown", "provided", "answer", "markdown", "answer", "test", "test", "provided"
        ]  # fmt: skip
        assert [src for _, src in steps[5:7]] == [COURSE.cells[3].source, "assert g() == 2"]

    def test_a_deleted_answer_comes_back_empty_with_a_note(self):
        steps, notes = planned(learner(*HONEST[:5], *HONEST[6:]))
        code = [step for step in steps if step[0] != "markdown"]
        assert code[2:5] == [
            ("test", COURSE.cells[3].source),
            ("answer", ""),
            ("test", "assert g() == 2"),
        ]
        assert notes == ["answer cell a2 was missing from your notebook"]

    def test_a_deleted_provided_cell_is_put_back_with_a_note(self):
        steps, notes = planned(learner("title", *HONEST[2:]))
        code = [step for step in steps if step[0] != "markdown"]
        assert code[:2] == [("provided", "import numpy as np"), ("answer", "def f(): return 1")]
        assert notes == ["a provided cell (setup) was missing and was put back"]

    def test_a_second_copy_of_an_answer_is_the_learners_own_code(self):
        steps, notes = planned(learner(*HONEST[:3], ("a1", "f = None"), *HONEST[3:]))
        assert steps[2:5] == [
            ("answer", "def f(): return 1"),
            ("extra", "f = None"),
            ("test", COURSE.cells[3].source),
        ]
        assert notes == []

    def test_an_answer_rewritten_in_a_cell_of_the_learners_runs_before_its_test(self):
        mine = new_code_cell("def f(): return 1")  # answer cell a1 deleted, f written anew
        steps, notes = planned(learner("title", "setup", mine, *HONEST[3:]))
        code = [step for step in steps if step[0] != "markdown"]
        assert code[:4] == [
            ("provided", "import numpy as np"),
            ("answer", ""),
            ("extra", "def f(): return 1"),
            ("test", COURSE.cells[3].source),
        ]
        assert notes == ["answer cell a1 was missing from your notebook"]

    def test_a_cell_put_back_above_does_not_move_a_test_before_the_learners_cells(self):
        mine = new_code_cell("def h(): return 1")
        student = learner("title", ("a1", "def f(): return h()"), mine, *HONEST[3:])
        steps, notes = planned(student)
        code = [step for step in steps if step[0] != "markdown"]
        assert code[:4] == [
            ("provided", "import numpy as np"),
            ("answer", "def f(): return h()"),
            ("extra", "def h(): return 1"),
            ("test", COURSE.cells[3].source),
        ]
        assert notes == ["a provided cell (setup) was missing and was put back"]

    @pytest.mark.parametrize("field", ["source", "metadata"])
    def test_a_malformed_cell_is_left_out_with_a_note(self, field):
        student = learner(*HONEST)
        student.cells.append(new_code_cell("x = 1"))
        student.cells[-1][field] = ["not", "text"]
        steps, notes = planned(student)
        assert steps == planned(learner(*HONEST))[0]
        assert notes == ["a malformed cell (its source is not text) was left out"]

    @pytest.mark.parametrize("gid", [3, "", None, ["a1"]])
    def test_a_grade_id_that_is_not_a_name_claims_nothing(self, gid):
        cell = new_code_cell("def f(): return 0")
        cell.metadata["nbgrader"] = {"grade_id": gid, "solution": True}
        steps, _ = planned(learner(*HONEST[:3], cell, *HONEST[3:]))
        assert steps[3] == ("extra", "def f(): return 0")

    def test_an_empty_notebook_gets_every_course_cell_in_order(self):
        steps, notes = planned(new_notebook())
        assert steps == [
            ("provided", "import numpy as np"),
            ("answer", ""),
            ("test", COURSE.cells[3].source),
            ("answer", ""),
            ("test", "assert g() == 2"),
            ("provided", "def helper():\n    return 3"),
        ]
        assert notes == [
            "a provided cell (setup) was missing and was put back",
            "answer cell a1 was missing from your notebook",
            "answer cell a2 was missing from your notebook",
            "a provided cell (helper) was missing and was put back",
        ]

    def test_the_learners_notebook_is_not_changed(self):
        student = learner(*HONEST)
        student.cells[2]["id"] = 5
        before = copy.deepcopy(student)
        submission.plan(copy.deepcopy(COURSE), student)
        assert student == before


class TestSteps:
    def test_a_learners_cell_matches_by_grade_id_then_a_provided_cells_id(self):
        by_gid, by_id = submission._course_index(COURSE.cells)
        assert by_gid == {"setup": 1, "a1": 2, "t1": 3, "a2": 5, "t2": 6}
        assert by_id == {"title": 0, "setup": 1, "a1": 2, "t1": 3, "part-b": 4, "a2": 5,
                         "t2": 6, "helper": 7}  # fmt: skip

        def match(cell):
            return submission._course_match(cell, COURSE.cells, by_gid, by_id)

        assert match(answer("a2", "x")) == 5
        assert match(new_code_cell("x", id="helper")) == 7
        assert match(new_code_cell("x", id="a1")) is None  # an answer needs its grade_id
        assert match(new_code_cell("x", id="nowhere")) is None

    def test_a_test_is_never_placed_before_its_predecessors(self):
        steps = [
            submission._Step("provided", "", s_index=1),
            submission._Step("extra", ""),
            submission._Step("answer", "", s_index=2),
            submission._Step("extra", ""),
            submission._Step("markdown", ""),
            submission._Step("answer", "", s_index=5),
        ]
        assert submission._after(steps, 3) == 2
        assert submission._after(steps, 1) == -1
        assert submission._test_position(steps, 2, 0) == 3  # moved before its answer
        assert submission._test_position(steps, 2, 5) == 5  # moved later: stays there
        assert submission._test_position(steps, 2, None) == 5  # deleted: after extra and text
        assert submission._test_position(steps, 5, None) == 6
