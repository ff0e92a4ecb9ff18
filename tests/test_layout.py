"""course.layout: the rule for what a student may never see, and the paths of a course directory."""

import json
from pathlib import Path

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


class TestCourseDir:
    @pytest.fixture
    def course(self, tmp_path):
        return CourseDir(tmp_path)

    def test_folders(self, course, tmp_path):
        assert course.source == tmp_path / "solutions"
        assert course.release == tmp_path / "exercises"
        assert course.config == tmp_path / "nbgrader_config.py"

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
