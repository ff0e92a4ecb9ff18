"""course.layout: the rule for what a student may never see, and the paths of a course directory."""

import json
from pathlib import Path

import nbformat
import pytest

from course import layout
from course.layout import CourseDir

ROOT = Path(__file__).resolve().parents[1]

CELL = """def f(x):
    ### BEGIN SOLUTION
    # a comment
    import numpy as np
    return np.sum(x) / len(x)
    pass
    ### END SOLUTION
assert f([1]) == 1
### BEGIN HIDDEN TESTS
assert f([1.0, 3.0]) == 2.0
### END HIDDEN TESTS
visible_after_the_region = 1
"""


class TestSecretLines:
    def test_solution_and_hidden_lines_are_secret(self):
        assert layout.secret_lines(CELL) == [
            "return np.sum(x) / len(x)",
            "assert f([1.0, 3.0]) == 2.0",
        ]

    def test_comments_imports_and_short_lines_reveal_nothing(self):
        regions = layout.region_lines(CELL)
        assert {"# a comment", "import numpy as np", "pass"} <= set(regions)
        assert not {"# a comment", "import numpy as np", "pass"} & set(layout.secret_lines(CELL))

    def test_lines_outside_the_regions_are_public(self):
        found = layout.region_lines(CELL)
        assert "assert f([1]) == 1" not in found
        assert "visible_after_the_region = 1" not in found

    def test_one_kind_of_region(self):
        assert layout.secret_lines(CELL, markers=(layout.HIDDEN_MARKERS,)) == [
            "assert f([1.0, 3.0]) == 2.0"
        ]

    def test_the_tests_oracle_has_the_courses_minimum_length(self, secrets_of, tmp_path):
        """A line of 12 characters is a secret by both rules, one of 11 by neither (by hand)."""
        source = "def f(x):\n    ### BEGIN SOLUTION\n    t = x.sum(0)\n    t = x.sum()\n"
        source += "    ### END SOLUTION\n    return t"
        meta = {"nbgrader": {"solution": True, "grade": False, "grade_id": "f"}}
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, metadata=meta)])
        nbformat.write(nb, tmp_path / "one.ipynb")
        assert secrets_of(tmp_path) == {"t = x.sum(0)": tmp_path / "one.ipynb"}
        assert layout.secret_lines(source) == ["t = x.sum(0)"]

    def test_every_secret_line_of_the_course_is_one_by_the_tests_own_rule(self, secrets_of):
        """The course's rule never finds a line the tests' independent rule would not."""
        ours = {
            line
            for path in sorted((ROOT / layout.SOLUTIONS).rglob("*.ipynb"))
            for cell in json.loads(path.read_text())["cells"]
            for line in layout.secret_lines("".join(cell["source"]))
        }
        assert len(ours) > 100
        assert sorted(ours - set(secrets_of(ROOT / layout.SOLUTIONS))) == []


# Expectations below are written by hand: line numbers are 0-based, counted on the text.
SCANNED = """x = 1
### BEGIN SOLUTION
y = 2
### END SOLUTION
  ### BEGIN HIDDEN TESTS
assert y == 2
  ### END HIDDEN TESTS
z = 3"""


def _test_cell(source, grade_id="mean-tests"):
    meta = {"nbgrader": {"grade": True, "grade_id": grade_id, "points": 2, "solution": False}}
    return nbformat.v4.new_code_cell(source, metadata=meta)


class TestRegions:
    def test_spans_and_kinds(self):
        assert layout.regions(SCANNED) == [
            layout.Region(layout.SOLUTION, 1, 3),
            layout.Region(layout.HIDDEN, 4, 6),
        ]
        assert list(layout.regions(SCANNED)[1].inner) == [5]

    def test_no_markers_no_regions(self):
        assert layout.regions("") == []
        assert layout.regions("x = 1  # BEGIN SOLUTION is a comment") == []

    def test_a_marker_must_be_the_whole_line(self):
        assert layout.regions("x = 1  ### BEGIN SOLUTION\ny") == []

    def test_unclosed_region_names_the_cell(self):
        cell = _test_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2")
        with pytest.raises(layout.MarkerError, match="cell 'mean-tests'.*line 2 is never closed"):
            layout.regions(cell.source, cell)

    def test_a_cell_without_grade_id_is_named_by_its_id(self):
        cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")
        cell.id = "setup-cell"
        with pytest.raises(layout.MarkerError, match="cell 'setup-cell'"):
            layout.regions(cell.source, cell)

    def test_words_name_the_cell_too(self):
        with pytest.raises(layout.MarkerError, match="^ps1 cell 3: "):
            layout.regions("### BEGIN SOLUTION", "ps1 cell 3")

    def test_nested_regions_are_refused(self):
        source = "### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n"
        with pytest.raises(layout.MarkerError, match=r"line 2\) inside the solution region"):
            layout.regions(source, "c")

    def test_a_begin_twice_is_refused(self):
        with pytest.raises(layout.MarkerError, match="inside the solution region begun at line 1"):
            layout.regions("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "c")

    def test_mismatched_end_is_refused(self):
        with pytest.raises(layout.MarkerError, match=r"END HIDDEN TESTS` \(line 3\) ends the sol"):
            layout.regions("### BEGIN SOLUTION\nx\n### END HIDDEN TESTS", "c")

    def test_end_without_begin_is_refused(self):
        with pytest.raises(layout.MarkerError, match="ends no region"):
            layout.regions("x\n### END SOLUTION", "c")

    def test_every_reader_refuses_an_unclosed_region(self):
        from course import exercise_pages
        from course.grading import feedback, judge

        cell = _test_cell("### BEGIN HIDDEN TESTS\nassert secret()")
        for read in (
            lambda: layout.region_lines(cell.source, cell=cell),
            lambda: layout.secret_lines(cell.source, cell=cell),
            lambda: judge.visible_lines(cell.source, cell),
            lambda: feedback.strip_hidden(cell.source, cell),
            lambda: exercise_pages._strip_markers(cell),
        ):
            with pytest.raises(layout.MarkerError, match="mean-tests"):
                read()

    def test_readers_of_hidden_and_solution_regions(self):
        from course import exercise_pages
        from course.grading import feedback, judge

        assert layout.region_lines(SCANNED) == ["y = 2", "assert y == 2"]
        assert layout.region_lines(SCANNED, (layout.HIDDEN_MARKERS,)) == ["assert y == 2"]
        assert layout.hidden_line_numbers(SCANNED) == {4, 5, 6}
        assert judge.visible_lines(SCANNED) == {1, 2, 3, 4, 8}
        assert feedback.strip_hidden(SCANNED) == (
            f"x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\n{feedback.NOTE}\nz = 3"
        )
        assert exercise_pages._strip_markers(_test_cell(SCANNED)) == (
            "x = 1\ny = 2\nassert y == 2\nz = 3"
        )


class TestCellKind:
    @pytest.mark.parametrize(
        ("meta", "kind"),
        [
            ({}, layout.PLAIN),
            ({"solution": True, "grade": False}, layout.ANSWER),
            ({"solution": True, "grade": True, "points": 1}, layout.GRADED_ANSWER),
            ({"solution": False, "grade": True, "points": 1}, layout.TESTS),
            ({"solution": False, "grade": False, "locked": True}, layout.LOCKED),
            ({"solution": False, "grade": False, "task": True, "points": 1}, layout.TASK),
            # nbgrader: a solution cell is never locked, a grade cell always is
            ({"solution": True, "grade": False, "locked": True}, layout.ANSWER),
            ({"solution": False, "grade": True, "locked": False}, layout.TESTS),
        ],
    )
    def test_kinds(self, meta, kind):
        metadata = {"nbgrader": meta} if meta else {}
        assert layout.cell_kind(nbformat.v4.new_code_cell("x", metadata=metadata)) == kind

    def test_grade_id_and_points(self):
        cell = _test_cell("assert True")
        assert (layout.grade_id(cell), layout.points(cell)) == ("mean-tests", 2.0)
        plain = nbformat.v4.new_markdown_cell("# Part A")
        assert (layout.grade_id(plain), layout.points(plain)) == (None, 0.0)


class TestCourseDir:
    @pytest.fixture
    def course(self, tmp_path):
        return CourseDir(tmp_path)

    def test_folders(self, course, tmp_path):
        assert course.source == tmp_path / "solutions"
        assert course.release == tmp_path / "exercises"
        assert course.config == tmp_path / "nbgrader_config.py"
        assert course.corpus == tmp_path / "corpus"

    def test_the_course_of_this_repository(self):
        assert layout.COURSE.source == ROOT / "solutions"
        assert layout.COURSE.release == ROOT / "exercises"

    def test_gradebook_url_is_sqlite_on_the_gradebook(self, course, tmp_path):
        assert course.gradebook == tmp_path / "gradebook.db"
        assert course.gradebook_url == f"sqlite:///{tmp_path}/gradebook.db"

    def test_submission_paths(self, course, tmp_path):
        assert course.submitted("ada", "ps1") == tmp_path / "submitted" / "ada" / "ps1"
        assert course.autograded("ada", "ps1") == tmp_path / "autograded" / "ada" / "ps1"

    def test_exchange_inbound(self, tmp_path):
        assert layout.inbound(tmp_path) == tmp_path / layout.COURSE_ID / "inbound"

    def test_root_is_a_path(self):
        assert CourseDir("relative").root == Path("relative")
