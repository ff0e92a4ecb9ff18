"""The notebook forms that the launch buttons open (Binder, Colab, a class hub).

- ``notebooks/NN_name.ipynb``: the notebook form of every ``chapters/NN_name.md`` (Colab cannot
  open MyST Markdown), with a setup cell after its title that installs ``bnlab`` where it is
  missing. It is generated, never kept by hand, and committed, because Colab opens files from the
  repository; a test fails when it drifts.
- ``exercises/``: the setup cell of every release notebook names the same public address
  (:func:`write_exercise_setup`, what a fork needs).

Run ``python -m course.notebook_forms`` to regenerate ``notebooks/`` and ``--check`` to fail
when it is out of date (``make notebooks``).
"""

import argparse
import json
import sys
from pathlib import Path

import jupytext
import nbformat

from course.crosslinks import site_links
from course.layout import CHAPTERS, EXERCISE_PAGES, EXERCISES, NOTEBOOKS, CourseDir
from course.layout import REPO_ROOT as ROOT
from course.myst_to_ipynb import Book, convert_notebook
from course.publish import read_address

SETUP_TAG = "course-setup"

SETUP_CODE = """\
# Makes the course package `bnlab` importable where it is not installed yet (Colab, a class hub).
# On Binder and in a local install of the course this does nothing.
import importlib
import importlib.util
import subprocess
import sys

BNLAB = "{requirement}"
if importlib.util.find_spec("bnlab") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", BNLAB], check=True)
    importlib.invalidate_caches()"""


def chapter_sources(root=ROOT):
    """The chapters of the book, in order: every ``chapters/*.md``."""
    return sorted((Path(root) / CHAPTERS).glob("*.md"))


def notebook_path(chapter):
    """Repository path of the notebook form of a chapter, e.g. ``notebooks/01_x.ipynb``."""
    return f"{NOTEBOOKS}/{Path(chapter).stem}.ipynb"


def launch_path(docname, root=ROOT):
    """Repository path that the launch buttons of page ``docname`` open, or None.

    Chapters open their notebook form; exercise pages open the student notebook in
    ``exercises/`` (in either edition: the learner works on the release).
    """
    parts = Path(docname).parts
    if len(parts) == 2 and parts[0] == CHAPTERS:
        return notebook_path(parts[1])
    if parts and parts[0] == EXERCISE_PAGES and docname != f"{EXERCISE_PAGES}/index":
        rel = Path(EXERCISES, *parts[1:]).with_suffix(".ipynb")
        return rel.as_posix() if (Path(root) / rel).exists() else None
    return None


def chapter_notebook(chapter, address=None, book=None, glue=None):
    """Notebook form of a chapter: its cells in Jupyter Markdown, a setup cell after the title.

    `address` (default: :func:`course.publish.read_address`) names what the setup cell
    installs and where links point; `book` is the :class:`course.myst_to_ipynb.Book` of the
    chapter's book (built when missing); `glue` the values to put into the text.
    """
    root = Path(chapter).resolve().parents[1]
    address = address or read_address(root)
    book = book or Book(root, address.site)
    nb = jupytext.read(chapter)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb = convert_notebook(nb, book, book.docname(chapter), glue)
    setup = nbformat.v4.new_code_cell(
        SETUP_CODE.format(requirement=address.pip_requirement),
        metadata={"tags": [SETUP_TAG]},
    )
    first_heading = next(
        (i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"),
        -1,
    )
    nb.cells.insert(first_heading + 1, setup)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    return nb


def _dumps(nb):
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def read_repository(root=ROOT):
    """``(repo_url, branch)`` of the public repository (:func:`course.publish.read_address`)."""
    address = read_address(root)
    return address.repo_url, address.branch


def expected_notebooks(root=ROOT):
    """``{repository path: text}`` of every notebook that ``notebooks/`` must hold."""
    address = read_address(root)
    book = Book(root, address.site)
    return {
        notebook_path(md): _dumps(chapter_notebook(md, address, book))
        for md in chapter_sources(root)
    }


def notebook_drift(root=ROOT):
    """Repository paths under ``notebooks/`` that are missing, stale or left over."""
    expected = expected_notebooks(root)
    present = {p.relative_to(root).as_posix() for p in (Path(root) / NOTEBOOKS).glob("*.ipynb")}
    stale = [
        path
        for path, text in expected.items()
        if path not in present or (Path(root) / path).read_text() != text
    ]
    return sorted(stale + sorted(present - set(expected)))


def write_notebooks(root=ROOT):
    """Regenerate ``notebooks/`` from ``chapters/``; return the paths written or removed."""
    expected = expected_notebooks(root)
    changed = notebook_drift(root)
    out = Path(root) / NOTEBOOKS
    out.mkdir(exist_ok=True)
    for path in changed:
        target = Path(root) / path
        if path in expected:
            target.write_text(expected[path])
        else:
            target.unlink()
    return changed


def write_exercise_setup(root=ROOT):
    """Point the setup cell of every notebook in ``exercises/`` at the public repository of
    `root`, and its links to chapter sections at its website (what a fork needs:
    ``course.publish``); return the notebooks rewritten."""
    address = read_address(root)
    code = SETUP_CODE.format(requirement=address.pip_requirement)
    changed = []
    for path in sorted(CourseDir(root).release.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        old = [c.source for c in nb.cells]
        for cell in nb.cells:
            if SETUP_TAG in cell.metadata.get("tags", []):
                cell.source = code
            elif cell.cell_type == "markdown":
                cell.source = site_links(cell.source, address.site)
        if [c.source for c in nb.cells] != old:
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if notebooks/ is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = notebook_drift()
        if stale:
            print("out of date (run `make notebooks`):", *stale, sep="\n  ")
            return 1
        print(f"{NOTEBOOKS}/ is up to date")
        return 0
    for path in write_notebooks():
        print("wrote" if (ROOT / path).exists() else "removed", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
