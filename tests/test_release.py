"""The student release holds no solution and no hidden test, runs its exercises, builds its book.

What is secret is decided by the tests' own rule (the ``secrets_of`` oracle of conftest.py, not
``course.layout``'s and not the release's own list of what to copy): every line inside a solution
or hidden-test region of a notebook in ``solutions/``, as long as the course's own minimum,
except a comment or a line of the reference package ``src/bnlab/`` (public by design: the
chapters show its code, and a few solution lines are lines of it). Any of them in any text file
of the release is a leak.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import release

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
REGIONS = {
    "### BEGIN SOLUTION": "### END SOLUTION",
    "### BEGIN HIDDEN TESTS": "### END HIDDEN TESTS",
}


@pytest.fixture(scope="module")
def secret(secrets_of):
    """``{line: notebook}`` of every secret line of ``solutions/`` that is not public anyway."""
    public = {
        line.strip() for path in (ROOT / "src" / "bnlab").glob("*.py") for line in text_lines(path)
    }
    return {
        line: path.relative_to(ROOT).as_posix()
        for line, path in secrets_of(ROOT / "solutions").items()
        if not line.startswith("#") and line not in public
    }


def text_lines(path):
    """The lines a reader of `path` sees: every cell and output of a notebook, else the text."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return []
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        parts = ["".join(c["source"]) for c in cells]
        for cell in cells:
            for out in cell.get("outputs", []):
                parts.append("".join(out.get("text", "")))
                parts += ["".join(v) for v in out.get("data", {}).values() if isinstance(v, list)]
        text = "\n".join(parts)
    return [line.strip() for line in text.splitlines()]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return release.write_release(tmp_path_factory.mktemp("release") / "public")


class TestNothingSecret:
    def test_the_rule_finds_secrets(self, secret):
        assert len(secret) > 100
        # as short as the course's rule: lines of 12 to 19 characters are secrets too
        assert min(len(line) for line in secret) < 20

    def test_no_solution_or_hidden_test_line_anywhere(self, tree, secret):
        leaks = [
            (path.relative_to(tree).as_posix(), line, secret[line])
            for path in sorted(tree.rglob("*"))
            if path.is_file()
            for line in text_lines(path)
            if line in secret
        ]
        assert not leaks

    def test_no_region_markers(self, tree):
        for path in tree.rglob("*"):
            if path.is_file():
                for line in text_lines(path):
                    assert line not in REGIONS and line not in REGIONS.values(), path

    def test_no_instructor_files(self, tree):
        names = {p.relative_to(tree).as_posix() for p in tree.rglob("*")}
        for forbidden in (
            "solutions",
            "nbgrader_config.py",
            "gradebook.db",
            "src/course/grading",
            "src/course/classroom.py",
            "tests",
            "Makefile",
            "hub",
        ):
            assert forbidden not in names, forbidden
        assert not [n for n in names if n.endswith(".db") or "submitted" in n.split("/")]

    def test_the_package_is_the_reference(self, tree):
        for path in (ROOT / "src" / "bnlab").glob("*.py"):
            assert (tree / "src" / "bnlab" / path.name).read_bytes() == path.read_bytes()


class TestLearnerTree:
    def test_has_what_learners_and_launchers_need(self, tree):
        for rel in (
            "README.md",
            "_config.yml",
            "_toc.yml",
            "binder/requirements.txt",
            "binder/postBuild",
            ".github/workflows/deploy.yml",
            "pyproject.toml",
        ):
            assert (tree / rel).is_file(), rel
        for folder in ("chapters", "notebooks", "exercises"):
            assert sorted(p.name for p in (tree / folder).rglob("*.*")) == sorted(
                p.name for p in (ROOT / folder).rglob("*.*") if ".ipynb_checkpoints" not in p.parts
            ), folder

    def test_postbuild_is_executable(self, tree):
        assert os.access(tree / "binder" / "postBuild", os.X_OK)

    def test_readme_launches_the_public_repository(self, tree):
        from course.publish import read_address

        address = read_address(ROOT)
        readme = (tree / "README.md").read_text()
        assert f"mybinder.org/v2/gh/{address.owner}/{address.repo}/{address.branch}" in readme
        assert f"colab.research.google.com/github/{address.owner}/{address.repo}/blob/" in readme

    def test_a_rewrite_keeps_the_clone(self, tree):
        (tree / ".git").mkdir(exist_ok=True)
        (tree / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (tree / "stale.txt").write_text("from an older release")
        release.write_release(tree)
        assert (tree / ".git" / "HEAD").is_file()
        assert not (tree / "stale.txt").exists()


def _with_solutions(student, source):
    """`student` with each solution cell replaced by the instructor's (markers dropped)."""
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in student.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = "\n".join(
                line
                for line in solutions[grade_id].splitlines()
                if line.strip() not in REGIONS and line.strip() not in REGIONS.values()
            )
    return student


def test_an_exercise_runs_its_visible_tests_in_the_release(tree):
    from nbclient import NotebookClient

    name = "ps1_moments/moments.ipynb"
    student = nbformat.read(tree / "exercises" / name, as_version=4)
    nb = _with_solutions(student, nbformat.read(ROOT / "solutions" / name, as_version=4))
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    folder = tree / "exercises" / "ps1_moments"
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(folder)}}).execute(env=env)
    visible = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert visible
    assert not [o for c in visible for o in c.outputs if o.output_type == "error"]


@pytest.mark.release
@pytest.mark.skipif(
    not os.environ.get("BNLAB_TEST_RELEASE"), reason="slow: run with make test-release"
)
def test_the_release_builds_the_book(tree):
    cache = ROOT / "_build" / ".jupyter_cache"
    if cache.is_dir():  # keyed by the code: the chapters are the same, so they need not rerun
        shutil.copytree(cache, tree / "_build" / ".jupyter_cache")
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    log = ""
    for step in (
        [sys.executable, "-m", "course.execute_cache"],
        [str(JUPYTER_BOOK), "build", ".", "--warningiserror", "--nitpick", "--keep-going"],
    ):
        proc = subprocess.run(step, cwd=tree, env=env, capture_output=True, text=True)
        log += proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-4000:]
    html = tree / "_build" / "html"
    assert (html / "chapters" / "05_bn_backward.html").is_file()
    assert "exercise_pages/ps1_moments/moments.html" in (html / "index.html").read_text() or any(
        (html / "exercise_pages").rglob("*.html")
    )
