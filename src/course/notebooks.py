"""Notebook forms of the course for launching and for the two editions of the website.

Two things are generated here, never kept by hand:

- ``notebooks/NN_name.ipynb``: the notebook form of every ``chapters/NN_name.md``, which the
  Binder, Colab and JupyterHub buttons open (Colab cannot open MyST Markdown). It is committed,
  because Colab opens files from the repository, and a test fails when it drifts.
- ``exercise_pages/``: the exercise pages of the website, made at build time from the nbgrader
  release (``exercises/``). The student edition shows the release as it is; the self-study
  edition adds each solution from ``solutions/`` behind a "Solution" dropdown.

Run ``python -m course.notebooks`` to regenerate ``notebooks/`` and ``--check`` to fail
when it is out of date.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

import jupytext
import nbformat

from bnlab import seeds
from course.crosslinks import site_links, website_markdown
from course.layout import (
    ANSWERS,
    CHAPTERS,
    EXERCISE_PAGES,
    EXERCISES,
    NOTEBOOKS,
    SOLUTIONS,
    CourseDir,
    cell_kind,
    grade_id,
    regions,
)
from course.layout import REPO_ROOT as ROOT
from course.myst_to_ipynb import Book, convert_notebook
from course.publish import read_address

EDITIONS = ("student", "self-study")
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


def _strip_markers(cell):
    """The source of `cell` without its region markers (:func:`course.layout.regions`)."""
    markers = {i for r in regions(cell.source, cell) for i in (r.begin, r.end)}
    lines = cell.source.splitlines()
    return "\n".join(line for i, line in enumerate(lines) if i not in markers).strip("\n")


def _source_notebook(release_path, root):
    course = CourseDir(root)
    rel = release_path.relative_to(course.release)
    for suffix in (".ipynb", ".md", ".py"):
        candidate = (course.source / rel).with_suffix(suffix)
        if candidate.exists():
            return jupytext.read(candidate)
    raise FileNotFoundError(f"no source in {SOLUTIONS}/ for {EXERCISES}/{rel}")


def _solution_cell(cell):
    body = _strip_markers(cell)
    if cell.cell_type == "code":
        body = f"```python\n{body}\n```"
    return nbformat.v4.new_markdown_cell(
        f"::::{{admonition}} Solution\n:class: dropdown\n\n{body}\n::::",
        metadata={"tags": ["solution"]},
    )


def exercise_page(release_path, edition, root=ROOT):
    """The website page of one release notebook, for ``edition`` ("student" or "self-study").

    The page is never executed by the build (the release raises NotImplementedError by design).
    Its parts carry their labels and its links to chapter sections point inside the book
    (:func:`course.crosslinks.website_markdown`).
    """
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    nb = nbformat.read(release_path, as_version=4)
    nb.cells = [c for c in nb.cells if SETUP_TAG not in c.metadata.get("tags", [])]
    nb.metadata["mystnb"] = {"execution_mode": "off"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = website_markdown(cell.source, Path(release_path).parent.name)
    if not any(c.cell_type == "markdown" and c.source.lstrip().startswith("# ") for c in nb.cells):
        title = Path(release_path).stem.replace("_", " ").strip().capitalize()
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {title}"))
    if edition == "self-study":
        solutions = {
            grade_id(c): c
            for c in _source_notebook(release_path, root).cells
            if cell_kind(c) in ANSWERS
        }
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            if grade_id(cell) in solutions:
                cells.append(_solution_cell(solutions[grade_id(cell)]))
        nb.cells = cells
    return nb


EXERCISE_INDEX = """\
# Exercises

Each exercise is an auto-graded Jupyter notebook (nbgrader). Open one with the launch button
(rocket icon) at the top of its page, or from the `exercises/` folder of the repository, fill in
every cell that says `YOUR CODE HERE`, and run the "check it" cells and the visible tests: they
give instant feedback on shapes and sanity. To check a whole notebook part by part, save it and run
`python -m bnlab.selfcheck NOTEBOOK` in a terminal, or `check()` of `bnlab.selfcheck` in a cell
(see the {{ref}}`learner guide <learner-guide>`). Hidden tests decide the grade.

{note}

```{{tableofcontents}}
```
"""

EDITION_NOTES = {
    "student": "This is the student edition of the course: it shows no solutions.",
    "self-study": (
        "This is the self-study edition: every solution is on the page, folded away under a "
        '"Solution" dropdown. Try the exercise first.'
    ),
}


def _write_if_changed(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_exercise_pages(edition, root=ROOT):
    """Write ``exercise_pages/`` for ``edition``; return the docnames of the exercise pages.

    The folder ignores itself in git; files are rewritten only when their text changes, so an
    incremental build reads only what changed.
    """
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    out = Path(root) / EXERCISE_PAGES
    files = {
        ".gitignore": "# generated by course.notebooks at build time\n*\n",
        "index.md": EXERCISE_INDEX.format(note=EDITION_NOTES[edition]),
    }
    release = CourseDir(root).release
    for path in sorted(release.rglob("*.ipynb")):
        rel = path.relative_to(release)
        if ".ipynb_checkpoints" not in rel.parts:
            files[rel.as_posix()] = nbformat.writes(exercise_page(path, edition, root)) + "\n"
    for old in out.rglob("*") if out.exists() else ():
        if old.is_file() and old.relative_to(out).as_posix() not in files:
            old.unlink()
    for rel, text in files.items():
        _write_if_changed(out / rel, text)
    return [
        Path(EXERCISE_PAGES, rel).with_suffix("").as_posix()
        for rel in files
        if rel.endswith(".ipynb")
    ]


# The chapters whose checks are experimental verdicts: they must hold under any seed offset.
# Longest first, so a test worker busy with chapter 8 does not take the other offset's file too
# (pytest-xdist hands a worker another file when it has two tests or fewer left).
# Every chapter with a random simulation or training asserts its outcome as a statistic, so every
# one of them is checked again: the build covers the default seeds, the tests two other offsets
# and one drawn per run (tests/test_chapters_random.py), `make verdicts` ten with their margins.
VERDICT_CHAPTERS = (
    "08_experiments",
    "03_gradient_variance",
    "09_distributed_bn",
    "07_placement",
    "02_covariance_moments",
    "05_bn_backward",
    "01_expectation_variance",
    "06_train_inference",
    "04_bn_forward",
)
SEED_ENV = seeds.ENV
RECORD_ENV = seeds.VERDICTS_ENV
_FAIL_LINE = re.compile(r"^FAIL", re.M)


def verdict_notebooks(root=ROOT, verdicts=True):
    """The notebook forms of the verdict chapters (in that order), or of every other chapter."""
    if verdicts:
        return [Path(root) / NOTEBOOKS / f"{stem}.ipynb" for stem in VERDICT_CHAPTERS]
    every = sorted((Path(root) / NOTEBOOKS).glob("*.ipynb"))
    return [p for p in every if p.stem not in VERDICT_CHAPTERS]


def _text(output):
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return output.get("data", {}).get("text/plain", "")


def execute_notebook(path, seed_offset=None, record=None):
    """Execute `path` in a fresh kernel from its folder, under `seed_offset` (None: default).

    The kernel inherits this process's environment, with ``BNLAB_SEED`` set or removed. Returns
    the problems: stderr output, and output lines starting with ``FAIL``. An error raises.
    With `record` (a file path) every verdict appends its margin there and a failed verdict
    does not raise (``bnlab.seeds.VERDICTS_ENV``; ``make verdicts``).

    The kernel talks over Unix sockets in a private folder, not TCP ports: kernels started at
    the same moment (test workers, ``make verdicts``) cannot pick the same port.
    """
    import tempfile

    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in (SEED_ENV, RECORD_ENV)}
    if seed_offset is not None:
        env[SEED_ENV] = str(seed_offset)
    if record is not None:
        env[RECORD_ENV] = str(record)
    with tempfile.TemporaryDirectory(prefix="bnlab-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
        client = NotebookClient(
            nb,
            km=km,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        try:
            client.execute(env=env)
        finally:  # the client stops only a kernel manager it made itself, and its channels
            if getattr(client, "kc", None) is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                km.shutdown_kernel(now=True)
            km.context.destroy(linger=0)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    problems = [f"stderr: {out.get('text', '')}" for out in outputs if out.get("name") == "stderr"]
    lines = [line for out in outputs for line in _text(out).splitlines()]
    return problems + [f"{SEED_ENV}={seed_offset}: {x}" for x in lines if _FAIL_LINE.match(x)]


WORDS_PER_MINUTE = 120
MINUTES_PER_CODE_CELL = 1.5


def chapter_time(chapter):
    """``(title, minutes)``: reading at 120 words a minute plus 1.5 minutes per code cell.

    Technical prose with formulas is read at about half the speed of plain prose; the code
    cells are run and their output looked at. Rounded up to 5 minutes.
    """
    nb = jupytext.read(chapter)
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    title = next(
        (line[2:].strip() for line in prose.splitlines() if line.startswith("# ")),
        Path(chapter).stem,
    )
    code_cells = sum(c.cell_type == "code" for c in nb.cells)
    minutes = len(prose.split()) / WORDS_PER_MINUTE + MINUTES_PER_CODE_CELL * code_cells
    return title, 5 * max(1, -(-int(minutes) // 5))


def chapter_times_table(root=ROOT, prefix=""):
    """A Markdown table of every chapter with the time it takes, for the landing page."""
    rows = ["| Chapter | About |", "|---|---|"]
    for chapter in chapter_sources(root):
        title, minutes = chapter_time(chapter)
        rows.append(f"| {{doc}}`{title} <{prefix}{CHAPTERS}/{chapter.stem}>` | {minutes} min |")
    return "\n".join(rows)


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
