"""The problem sets (``solutions/``): parts and points, graded cells, what tests read, and
nbgrader's own validation of every source and student notebook (marked ``grading``).
"""

import nbformat
import pytest

from course.grading import runner, scores
from course.layout import REPO_ROOT

SOLUTIONS = REPO_ROOT / "solutions"
EXERCISES = REPO_ROOT / "exercises"
SOURCE_NBS = sorted(SOLUTIONS.glob("*/*.ipynb"))
IDS = [p.parent.name for p in SOURCE_NBS]


def graded_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


class TestNotebookStructure:
    @pytest.mark.parametrize("path", SOURCE_NBS, ids=IDS)
    def test_parts_declare_their_points(self, path):
        """Every '## Part X (N points)' heading equals the points of its graded cells."""
        nb = nbformat.read(path, 4)
        parts = scores.part_of_cells(nb)
        points = {}
        for cell in graded_cells(nb):
            meta = cell.metadata.nbgrader
            points[parts[meta.grade_id]] = points.get(parts[meta.grade_id], 0) + meta.points
        assert len(points) >= 4
        for title, total in points.items():
            declared = int(title.split("(")[1].split()[0])
            assert declared == total, title

    @pytest.mark.parametrize("path", SOURCE_NBS, ids=IDS)
    def test_every_graded_cell_has_hidden_or_visible_test_and_unique_id(self, path):
        nb = nbformat.read(path, 4)
        ids = [c.metadata.nbgrader.grade_id for c in graded_cells(nb)]
        assert len(ids) == len(set(ids))
        assert all(i.startswith("test_") for i in ids)
        assert sum("### BEGIN HIDDEN TESTS" in c.source for c in graded_cells(nb)) >= 4
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")

    @pytest.mark.parametrize("path", SOURCE_NBS, ids=IDS)
    def test_tests_read_from_the_kernel_only_what_answer_cells_define(self, path):
        """A test's free names come from the course's imports (run in the grader) or are names
        an answer cell defines; never data of a provided cell, which the kernel could change
        under the test (its inputs must come from the test itself)."""
        import ast

        from course.grading import judge

        nb = nbformat.read(path, 4)
        imported, answers = judge.prelude(nb), set()
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                for node in ast.walk(ast.parse(cell.source)):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        answers.add(node.id)
                    elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                        answers.add(node.name)
        for cell in graded_cells(nb):
            outside = set(judge.free_names(cell.source)) - set(imported) - answers
            assert not outside, (cell.metadata.nbgrader.grade_id, outside)

    def test_every_seed_problem_is_an_exercise(self):
        """Worked examples 1-3 and practice problems 1-5 of seed 003 all appear."""
        text = "\n".join(
            c.source
            for p in SOURCE_NBS
            for c in nbformat.read(p, 4).cells
            if c.cell_type == "markdown"
        )
        for label in ["worked example 1", "worked example 2", "worked example 3"] + [
            f"practice problem {k}" for k in range(1, 6)
        ]:
            assert label in text.lower(), label


@pytest.mark.grading
@pytest.mark.parametrize("path", SOURCE_NBS, ids=IDS)
def test_source_passes_and_student_version_fails_every_test(path, tmp_path, nbgrader):
    """nbgrader validate on the solution, and validate --invert on the student version."""
    root = runner.write_config(tmp_path / "course")
    out = nbgrader(root, "validate", str(path)).stdout
    assert "Success! Your notebook passes all the tests." in out, out[-2000:]
    release = EXERCISES / path.relative_to(SOLUTIONS)
    out = nbgrader(root, "validate", "--invert", str(release)).stdout
    assert "Success! The notebook does not pass any tests." in out, out[-2000:]
