"""The two editions of the website come from one source (no build, no browser).

A small nbgrader pair (source with solutions and hidden tests, release without) is written to a
temp repository; the exercise pages of each edition are generated from it and read back.
"""

import shutil
from pathlib import Path

import nbformat
import pytest

from course import exercise_pages, notebook_forms

ROOT = Path(__file__).resolve().parents[1]


SOLUTION = "    total_of_values = np.sum(x)\n    return total_of_values / len(x)"
HIDDEN = "assert my_mean(np.arange(5.0)) == 2.0"


def nbgrader_notebook(release):
    """The same exercise as nbgrader's source (release=False) or release (release=True)."""
    body = (
        "    # YOUR CODE HERE\n    raise NotImplementedError()"
        if release
        else f"    ### BEGIN SOLUTION\n{SOLUTION}\n    ### END SOLUTION"
    )
    tests = "assert my_mean(np.ones(3)) == 1.0"
    if not release:
        tests += f"\n### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS"
    meta = {"schema_version": 3, "locked": False, "task": False}
    cells = [
        nbformat.v4.new_markdown_cell("# Moments\n\nImplement the mean."),
        nbformat.v4.new_code_cell(
            f'def my_mean(x):\n    """Mean of x."""\n{body}',
            metadata={"nbgrader": {**meta, "grade_id": "mean", "solution": True, "grade": False}},
        ),
        nbformat.v4.new_markdown_cell(
            "Why divide by m?"
            + ("" if release else "\n\n### BEGIN SOLUTION\nIt averages.\n### END SOLUTION"),
            metadata={"nbgrader": {**meta, "grade_id": "why", "solution": True, "grade": True}},
        ),
        nbformat.v4.new_code_cell(
            tests,
            metadata={"nbgrader": {**meta, "grade_id": "t_mean", "solution": False, "grade": True}},
        ),
    ]
    return nbformat.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )


@pytest.fixture
def repo(tmp_path):
    for folder, release in (("solutions", False), ("exercises", True)):
        (tmp_path / folder / "ps1").mkdir(parents=True)
        nbformat.write(nbgrader_notebook(release), tmp_path / folder / "ps1" / "mean.ipynb")
    return tmp_path


def page_text(repo, edition):
    docnames = exercise_pages.write_exercise_pages(edition, repo)
    assert docnames == ["exercise_pages/ps1/mean"]
    nb = nbformat.read(repo / "exercise_pages" / "ps1" / "mean.ipynb", as_version=4)
    return nb, "\n".join(c.source for c in nb.cells)


class TestEditions:
    def test_student_page_is_the_release(self, repo):
        nb, text = page_text(repo, "student")
        assert "raise NotImplementedError()" in text
        assert "total_of_values" not in text and "It averages" not in text
        assert HIDDEN not in text
        assert nb.metadata["mystnb"] == {"execution_mode": "off"}

    def test_self_study_folds_each_solution_away(self, repo):
        nb, text = page_text(repo, "self-study")
        dropdowns = [c.source for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        assert len(dropdowns) == 2
        assert all(":class: dropdown" in d for d in dropdowns)
        assert SOLUTION in dropdowns[0] and "BEGIN SOLUTION" not in text
        assert "It averages." in dropdowns[1]
        assert HIDDEN not in text

    def test_student_page_shows_no_secret_line(self, repo, secrets_of):
        lines = secrets_of(repo / "solutions")
        assert {"total_of_values = np.sum(x)", "It averages.", HIDDEN} <= set(lines)
        _, student = page_text(repo, "student")
        assert [line for line in lines if line in student] == []

    def test_switching_edition_rewrites_the_pages(self, repo):
        page_text(repo, "self-study")
        _, text = page_text(repo, "student")
        assert "total_of_values" not in text
        assert (repo / "exercise_pages" / ".gitignore").read_text().strip().endswith("*")

    def test_exercise_pages_launch_the_release(self, repo):
        page_text(repo, "student")
        assert (
            notebook_forms.launch_path("exercise_pages/ps1/mean", repo)
            == "exercises/ps1/mean.ipynb"
        )
        assert notebook_forms.launch_path("exercise_pages/index", repo) is None

    def test_unknown_edition(self, repo):
        with pytest.raises(ValueError, match="edition must be one of"):
            exercise_pages.write_exercise_pages("teacher", repo)

    def test_no_exercises_yet(self, tmp_path):
        assert exercise_pages.write_exercise_pages("student", tmp_path) == []
        assert (tmp_path / "exercise_pages" / "index.md").is_file()


class TestRealExercises:
    """No line of a solution or hidden test of ``solutions/`` reaches a student: not in the
    release ``exercises/`` and not on the student edition's pages (nothing is exempted)."""

    def test_release_holds_no_secret_line(self, secrets_of):
        secrets = secrets_of(ROOT / "solutions")
        assert len(secrets) > 100
        leaks = [
            f"{path.relative_to(ROOT)}: {line!r} (from {secrets[line].relative_to(ROOT)})"
            for path in sorted((ROOT / "exercises").rglob("*.ipynb"))
            for line in _code_and_text_lines(path)
            if line in secrets
        ]
        assert leaks == []

    def test_student_pages_of_this_repo_show_no_secret_line(self, tmp_path, secrets_of):
        for folder in ("exercises", "solutions"):
            shutil.copytree(ROOT / folder, tmp_path / folder)
        exercise_pages.write_exercise_pages("student", tmp_path)
        pages = sorted((tmp_path / "exercise_pages").rglob("*.ipynb"))
        assert len(pages) == len(list((ROOT / "exercises").rglob("*.ipynb")))
        shown = {line for page in pages for line in _code_and_text_lines(page)}
        assert sorted(shown & set(secrets_of(ROOT / "solutions"))) == []


def _code_and_text_lines(path):
    """The stripped lines of every cell's source and outputs of the notebook at `path`."""
    nb = nbformat.read(path, as_version=4)
    texts = [c.source for c in nb.cells]
    texts += [str(out) for c in nb.cells for out in c.get("outputs", [])]
    return {line.strip() for text in texts for line in text.splitlines()}
