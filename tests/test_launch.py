"""Launching a page works: Binder builds what the book builds with, and every link opens a file.

The Binder environment is checked against the pinned requirements; the notebook forms in
``notebooks/`` are checked against the chapters they come from; the launch paths of every page
are checked to exist in the repository. The links as the built website shows them are checked
in ``test_browser.py``.
"""

import re
import stat
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest

from course import notebook_forms as cn
from course.publish import read_address

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


CHAPTERS = cn.chapter_sources(ROOT)


def requirement_lines(path):
    """Non-comment lines of a pip requirements file, with nested ``-r`` files resolved.

    Returns ``(requirements, options)``: pinned requirement strings and option lines.
    """
    requirements, options = [], []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        nested = re.match(r"^(?:-r|--requirement)[ =](.+)$", line)
        if nested:
            more, more_options = requirement_lines((path.parent / nested.group(1)).resolve())
            requirements += more
            options += more_options
        elif line.startswith("-"):
            options.append(line)
        else:
            requirements.append(line)
    return requirements, options


def pins(requirements):
    """``{normalized name: version}`` of ``name==version`` lines; anything else is an error."""
    result = {}
    for line in requirements:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
        assert match, f"not an exact pin: {line!r}"
        result[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return result


class TestBinderEnvironment:
    def test_binder_folder_is_the_only_environment(self):
        # repo2docker reads binder/ if it exists and ignores the root; a Dockerfile or an
        # environment.yml would replace requirements.txt, so none may exist.
        assert (BINDER / "requirements.txt").is_file()
        for name in ("Dockerfile", "environment.yml", "environment.yaml", "Pipfile"):
            assert not (BINDER / name).exists(), name

    def test_installs_exactly_the_pinned_requirements(self):
        binder_reqs, _ = requirement_lines(BINDER / "requirements.txt")
        pinned_reqs, _ = requirement_lines(ROOT / "requirements.txt")
        assert pins(binder_reqs) == pins(pinned_reqs)
        assert len(binder_reqs) == len(pinned_reqs), "a requirement is listed twice"

    def test_torch_is_the_cpu_build(self):
        requirements, options = requirement_lines(BINDER / "requirements.txt")
        assert pins(requirements)["torch"] == "2.13.0"
        assert "--extra-index-url https://download.pytorch.org/whl/cpu" in options
        assert not any("nvidia" in name for name in pins(requirements))

    def test_python_version_matches_the_build(self):
        runtime = (BINDER / "runtime.txt").read_text().strip()
        assert runtime == f"python-{sys.version_info.major}.{sys.version_info.minor}"
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        minimum = project["requires-python"].removeprefix(">=")
        assert tuple(map(int, runtime.removeprefix("python-").split("."))) >= tuple(
            map(int, minimum.split("."))
        )

    def test_post_build_installs_the_package(self):
        post_build = BINDER / "postBuild"
        assert post_build.stat().st_mode & stat.S_IXUSR, "postBuild must be executable"
        commands = [
            line.strip()
            for line in post_build.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        assert "python -m pip install --no-cache-dir --no-deps -e ." in commands
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        assert project["name"] == "bnlab"


class TestNotebookForms:
    def test_chapters_exist(self):
        assert CHAPTERS, "no chapters found"

    def test_notebooks_are_up_to_date(self):
        stale = cn.notebook_drift(ROOT)
        assert not stale, f"notebooks/ is out of date, run `make notebooks`: {stale}"

    @pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
    def test_notebook_has_the_chapter_code(self, chapter):
        notebook = ROOT / cn.notebook_path(chapter)
        nb = nbformat.read(notebook, as_version=4)
        nbformat.validate(nb)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        setup = [c for c in nb.cells if cn.SETUP_TAG in c.metadata.get("tags", [])]
        assert len(setup) == 1
        expected = [c.source for c in jupytext.read(chapter).cells if c.cell_type == "code"]
        assert [s for s in code if s != setup[0].source] == expected
        assert nb.metadata["kernelspec"]["name"] == "python3"
        assert all(c.get("outputs", []) == [] for c in nb.cells if c.cell_type == "code")

    @pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
    def test_launch_path_exists(self, chapter):
        target = cn.launch_path(f"chapters/{chapter.stem}", ROOT)
        assert target == f"notebooks/{chapter.stem}.ipynb"
        assert (ROOT / target).is_file()

    def test_setup_cell_installs_from_the_repository(self):
        address = read_address(ROOT)
        nb = cn.chapter_notebook(CHAPTERS[0], address)
        setup = next(c for c in nb.cells if cn.SETUP_TAG in c.metadata.get("tags", []))
        assert f'"bnlab @ git+{address.repo_url}@{address.branch}"' in setup.source
        compile(setup.source, "setup", "exec")
