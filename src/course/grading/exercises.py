"""The student versions: generated from the source, checked for drift and for leaks.

Each generated notebook carries a stamp in its metadata (problem set, notebook, digest of its
tests), and ``src/bnlab/problem_sets.json`` lists the visible tests of every problem set: what
the learner's check (:mod:`bnlab.selfcheck`) runs, in any copy of the course.
"""

import json
import shutil
import tempfile
from pathlib import Path

import nbformat

from bnlab import selfcheck
from course import layout
from course.grading.runner import assignments, run_nbgrader, write_config
from course.layout import COURSE, GRADED, HIDDEN, REPO_ROOT, CourseDir, cell_kind, grade_id, regions
from course.notebook_forms import SETUP_CODE, SETUP_TAG
from course.publish import read_address

#: the learner's check reads the problem sets from here (shipped with bnlab)
REGISTRY = REPO_ROOT / "src" / "bnlab" / selfcheck.REGISTRY


def _entry(path, source):
    """The registry entry of the generated notebook `path` of the source folder `source`."""
    nb = nbformat.read(path, 4)
    src = nbformat.read(Path(source) / path.parent.name / path.name, 4)
    hidden = {
        grade_id(c)
        for c in src.cells
        if cell_kind(c) in GRADED and any(r.kind == HIDDEN for r in regions(c.source, c))
    }
    return nb, selfcheck.registry_entry(nb, path.parent.name, path.stem, hidden)


def _add_setup(nb):
    """The chapters' setup cell after the header: Colab or a hub installs ``bnlab``, whose
    :mod:`bnlab.check` the visible tests call (elsewhere it does nothing)."""
    cell = nbformat.v4.new_code_cell(
        SETUP_CODE.format(requirement=read_address(REPO_ROOT).pip_requirement),
        metadata={"tags": [SETUP_TAG]},
    )
    cell.id = SETUP_TAG
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first + 1, cell)


def registry(exercises, source):
    """``{"ps/notebook": entry}`` of every notebook in `exercises` (see :mod:`bnlab.selfcheck`)."""
    entries = {}
    for path in sorted(Path(exercises).glob("*/*.ipynb")):
        entry = _entry(path, source)[1]
        entries[selfcheck.key(entry["problem_set"], entry["notebook"])] = entry
    return entries


def registry_text(entries):
    return json.dumps(entries, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def generate(dest=None, source=COURSE.source, names=None):
    """Generate the student versions of `names` (default all) into `dest`/<assignment>/.

    Generation happens in a scratch course directory (no gradebook appears in the repository);
    `dest` defaults to the repository's ``exercises/``, whose assignment folders are replaced.
    """
    dest = Path(dest or COURSE.release)
    names = names or assignments(source)
    with tempfile.TemporaryDirectory(prefix="bn-generate-") as tmp:
        course = write_config(Path(tmp) / "course")
        for name in names:
            shutil.copytree(
                Path(source) / name,
                CourseDir(course).source / name,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
            )
            run_nbgrader(course, "generate_assignment", name, "--force")
            shutil.rmtree(dest / name, ignore_errors=True)
            shutil.copytree(CourseDir(course).release / name, dest / name)
            for path in sorted((dest / name).glob("*.ipynb")):
                nb, entry = _entry(path, source)
                selfcheck.stamp(nb, entry)
                _add_setup(nb)
                nbformat.write(nb, path)
    if dest == COURSE.release:
        REGISTRY.write_text(registry_text(registry(dest, source)))
    return dest


def leaks(exercise_nb, source_nb):
    """Solution or hidden-test text found in a student notebook (a list of messages)."""
    found = []
    text = "\n".join(c.source for c in exercise_nb.cells)
    for marker in (m.lstrip("# ") for m in layout.MARKERS):
        if marker in text:
            found.append(f"contains the marker {marker!r}")
    code_lines = {
        line.strip()
        for c in exercise_nb.cells
        if c.cell_type == "code"
        for line in c.source.splitlines()
    }
    secret = [s for c in source_nb.cells for s in layout.secret_lines(c.source, cell=c)]
    found += [f"contains protected line {s!r}" for s in secret if s in code_lines]
    for cell in exercise_nb.cells:
        if cell.get("outputs"):
            found.append(f"cell {cell.get('id')} has outputs")
    return found


def check(exercises=COURSE.release, source=COURSE.source):
    """Problems with the committed student versions: drift from generation, or leaks."""
    problems = []
    exercises, source = Path(exercises), Path(source)
    with tempfile.TemporaryDirectory(prefix="bn-check-") as tmp:
        fresh = generate(Path(tmp) / "fresh", source)
        want = sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file())
        have = sorted(
            p.relative_to(exercises).as_posix()
            for p in exercises.rglob("*")
            if p.is_file() and ".ipynb_checkpoints" not in p.parts
        )
        for missing in sorted(set(want) - set(have)):
            problems.append(f"exercises/{missing} is missing (run: make exercises)")
        for extra in sorted(set(have) - set(want)):
            problems.append(f"exercises/{extra} is not generated from solutions/")
        for rel in sorted(set(want) & set(have)):
            a, b = (fresh / rel).read_bytes(), (exercises / rel).read_bytes()
            if rel.endswith(".ipynb"):
                a, b = json.loads(a), json.loads(b)
            if a != b:
                problems.append(f"exercises/{rel} differs from what solutions/ generates")
        have_registry = REGISTRY.read_text() if REGISTRY.exists() else ""
        if exercises == COURSE.release and have_registry != registry_text(registry(fresh, source)):
            problems.append(f"{REGISTRY.relative_to(REPO_ROOT)} is not what solutions/ generates")
    for nb_path in sorted(exercises.rglob("*.ipynb")):
        src = source / nb_path.relative_to(exercises)
        if src.exists():
            ex_nb, src_nb = nbformat.read(nb_path, 4), nbformat.read(src, 4)
            problems += [f"{nb_path.relative_to(exercises)}: {m}" for m in leaks(ex_nb, src_nb)]
    return problems
