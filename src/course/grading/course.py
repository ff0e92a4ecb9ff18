"""Generate the student versions, check them for drift, and grade submissions in isolation.

Every nbgrader step runs as an ``nbgrader`` subprocess in a course directory whose
``nbgrader_config.py`` calls :func:`course.grading.config.apply`, so the instructor's commands
and these helpers share one configuration.

Isolated grading (:func:`autograde`): each submission is autograded in a **scratch course
directory** of its own, holding a copy of the source and a gradebook without any other student.
The instructor's gradebook is written only by this (trusted) process, after the student's kernel
has exited, with the scores read from the autograded notebook. A tripwire snapshots the
instructor's gradebook and the trusted files (source notebooks, `course.grading`, `bnlab`) before
each student and restores any byte the student's code changed.
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.utils import determine_grade

import bnlab
from course import layout
from course.grading import PACKAGE_DIR, config
from course.layout import REPO_ROOT, CourseDir

CONFIG_TEMPLATE = """\
from course.grading.config import apply
apply(get_config(), {root!r}, source={source!r}, release={release!r})
"""


def nbgrader_bin():
    """The nbgrader executable of this environment."""
    return str(Path(sys.executable).with_name("nbgrader"))


def write_config(root, source=layout.SOLUTIONS, release=layout.EXERCISES):
    """Make `root` a course directory that uses the course's configuration."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    text = CONFIG_TEMPLATE.format(root=str(root), source=source, release=release)
    CourseDir(root).config.write_text(text)
    return root


def run_nbgrader(root, *args, timeout=None, check=True):
    """Run ``nbgrader ARGS`` in course directory `root`; returns the CompletedProcess."""
    config.kernel_path()
    config.prepend_bindir()
    proc = subprocess.Popen(
        [nbgrader_bin(), *args],
        cwd=str(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out += f"\n[grading] nbgrader {args[0]} killed after {timeout} s"
        proc.returncode = -9
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{out[-3000:]}")
    return result


def assignments(source=REPO_ROOT / layout.SOLUTIONS):
    """Assignment ids: the folders of the source directory that hold notebooks."""
    return sorted(p.name for p in Path(source).iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


# ---------------------------------------------------------------------------- generate / drift


def generate(dest=None, source=REPO_ROOT / layout.SOLUTIONS, names=None):
    """Generate the student versions of `names` (default all) into `dest`/<assignment>/.

    Generation happens in a scratch course directory (no gradebook appears in the repository);
    `dest` defaults to the repository's ``exercises/``, whose assignment folders are replaced.
    """
    dest = Path(dest or REPO_ROOT / layout.EXERCISES)
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
    secret = [s for c in source_nb.cells for s in layout.secret_lines(c.source)]
    found += [f"contains protected line {s!r}" for s in secret if s in code_lines]
    for cell in exercise_nb.cells:
        if cell.get("outputs"):
            found.append(f"cell {cell.get('id')} has outputs")
    return found


def check(exercises=REPO_ROOT / layout.EXERCISES, source=REPO_ROOT / layout.SOLUTIONS):
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
    for nb_path in sorted(exercises.rglob("*.ipynb")):
        src = source / nb_path.relative_to(exercises)
        if src.exists():
            ex_nb, src_nb = nbformat.read(nb_path, 4), nbformat.read(src, 4)
            problems += [f"{nb_path.relative_to(exercises)}: {m}" for m in leaks(ex_nb, src_nb)]
    return problems


# ------------------------------------------------------------------------------------ scores


def part_of_cells(nb):
    """Map grade_id -> the title of the '## Part' section the cell is in."""
    part, parts = "(before the first part)", {}
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## Part"):
            part = cell.source.lstrip()[3:].splitlines()[0].strip()
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            parts[meta["grade_id"]] = part
    return parts


def scores_of(autograded_nb, source_nb):
    """``{grade_id: (score, max_score)}`` from an executed notebook, for every graded cell of
    the source; a graded cell missing from the executed notebook scores 0."""
    got = {}
    for cell in autograded_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id") not in got:
            score, _ = determine_grade(cell)
            got[meta["grade_id"]] = float(score or 0.0)
    result = {}
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            pts = float(meta.get("points", 0))
            result[meta["grade_id"]] = (min(got.get(meta["grade_id"], 0.0), pts), pts)
    return result


# --------------------------------------------------------------------------------- tripwire


class Tripwire:
    """Byte snapshot of trusted files; `restore()` undoes any change and reports it."""

    def __init__(self, paths):
        self.files = {}
        for p in paths:
            p = Path(p)
            for f in [p] if p.is_file() else sorted(p.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts:
                    self.files[f] = f.read_bytes()
        self.roots = [Path(p) for p in paths if Path(p).is_dir()]

    def restore(self):
        changed = []
        for f, data in self.files.items():
            if not f.exists() or f.read_bytes() != data:
                changed.append(str(f))
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
        for root in self.roots:
            for f in root.rglob("*"):
                if f.is_file() and f not in self.files and "__pycache__" not in f.parts:
                    changed.append(f"{f} (new file, removed)")
                    f.unlink()
        return changed


# ---------------------------------------------------------------------------- isolated runs


@dataclass
class Result:
    student: str
    assignment: str
    scores: dict = field(default_factory=dict)  # notebook -> {grade_id: (score, max)}
    parts: dict = field(default_factory=dict)  # notebook -> {grade_id: part title}
    incidents: list = field(default_factory=list)
    log: str = ""

    @property
    def total(self):
        return sum(s for nb in self.scores.values() for s, _ in nb.values())

    @property
    def max_total(self):
        return sum(m for nb in self.scores.values() for _, m in nb.values())

    def by_part(self):
        out = {}
        for nb, cells in self.scores.items():
            for gid, (s, m) in cells.items():
                key = f"{nb}: {self.parts[nb].get(gid, '?')}"
                got, mx = out.get(key, (0.0, 0.0))
                out[key] = (got + s, mx + m)
        return out


def grade_in_scratch(source_dir, submission_dir, student, *, timeout=1800, keep=None):
    """Autograde one student's submission of one assignment in a fresh scratch course.

    `source_dir` is ``solutions/<assignment>``; `submission_dir` holds the student's notebooks.
    Returns a :class:`Result` and, if `keep` is a directory, copies the autograded notebooks
    there.
    """
    source_dir, submission_dir = Path(source_dir), Path(submission_dir)
    name = source_dir.name
    result = Result(student, name)
    template = template_course(source_dir)
    with tempfile.TemporaryDirectory(prefix="bn-grade-") as tmp:
        course = Path(tmp) / "course"
        shutil.copytree(template, course)
        write_config(course)
        from nbgrader.api import Gradebook

        with Gradebook(CourseDir(course).gradebook_url) as gb:
            gb.update_or_create_student(student)
        sub = CourseDir(course).submitted(student, name)
        sub.mkdir(parents=True)
        for f in submission_dir.iterdir():  # notebooks, timestamp.txt, submission_secret.txt
            if f.is_file():
                shutil.copy2(f, sub / f.name)
        proc = run_nbgrader(
            course, "autograde", name, "--student", student, "--force", timeout=timeout, check=False
        )
        result.log = proc.stdout
        if proc.returncode != 0:
            result.incidents.append(f"nbgrader autograde exited with {proc.returncode}")
        out_dir = CourseDir(course).autograded(student, name)
        for src in sorted(source_dir.glob("*.ipynb")):
            source_nb = nbformat.read(src, 4)
            graded_path = out_dir / src.name
            if graded_path.exists():
                graded = nbformat.read(graded_path, 4)
            else:
                graded = nbformat.v4.new_notebook()
                result.incidents.append(f"{src.name}: no autograded notebook (scored 0)")
            result.scores[src.stem] = scores_of(graded, source_nb)
            result.parts[src.stem] = part_of_cells(source_nb)
        if keep is not None and out_dir.exists():
            keep = Path(keep)
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(out_dir, keep)
    return result


_TEMPLATES = {}


def template_course(source_dir):
    """A scratch course with `source_dir` generated once (gradebook without students)."""
    source_dir = Path(source_dir).resolve()
    key = (source_dir, tuple((p.name, p.stat().st_mtime_ns) for p in sorted(source_dir.glob("*"))))
    if key not in _TEMPLATES:
        tmp = tempfile.TemporaryDirectory(prefix="bn-template-")
        course = write_config(Path(tmp.name) / "course")
        shutil.copytree(
            source_dir,
            CourseDir(course).source / source_dir.name,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints"),
        )
        run_nbgrader(course, "generate_assignment", source_dir.name, "--force")
        _TEMPLATES[key] = (tmp, course)
    return _TEMPLATES[key][1]


def selfgrade(notebook, source=REPO_ROOT / layout.SOLUTIONS, timeout=1800):
    """Grade a learner's own notebook with the hidden tests; returns a :class:`Result`."""
    notebook = Path(notebook).resolve()
    matches = sorted(Path(source).glob(f"*/{notebook.name}"))
    if not matches:
        raise ValueError(f"no assignment in {source} has a notebook named {notebook.name}")
    src_dir = matches[0].parent
    with tempfile.TemporaryDirectory(prefix="bn-self-") as tmp:
        sub = Path(tmp) / "submission"
        sub.mkdir()
        shutil.copy2(notebook, sub / notebook.name)
        result = grade_in_scratch(src_dir, sub, "me", timeout=timeout)
    # a learner grades one notebook: report only that one
    result.scores = {notebook.stem: result.scores[notebook.stem]}
    return result


def _record(gradebook_url, result, timestamp=None):
    """Write one student's scores into the instructor's gradebook (trusted process only)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(gradebook_url) as gb:
        gb.update_or_create_student(result.student)
        try:
            submission = gb.find_submission(result.assignment, result.student)
        except MissingEntry:
            # nbgrader 0.9 with SQLAlchemy 2.x warns about its own autoflush here (harmless)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                submission = gb.add_submission(result.assignment, result.student)
        if timestamp:
            from nbgrader.utils import parse_utc

            submission.timestamp = parse_utc(timestamp)
        for nb_name, cells in result.scores.items():
            for grade_id, (score, _) in cells.items():
                grade = gb.find_grade(grade_id, nb_name, result.assignment, result.student)
                grade.auto_score = score
                grade.manual_score = None
                grade.needs_manual_grade = False
        gb.db.commit()


def autograde(name, root=REPO_ROOT, *, students=None, timeout=1800, workers=1):
    """Autograde every collected submission of assignment `name` in course `root`, each in
    isolation, and record the scores in ``root/gradebook.db``. Returns a list of Results.

    With ``workers > 1`` that many submissions are graded at the same time, each still in its
    own scratch course; the instructor's gradebook is written only after every kernel of the
    batch has exited, in the same order, so the gradebook ends up identical. One tripwire then
    guards the whole batch: if it fires, nobody can tell which concurrent kernel did it, so the
    batch is graded again one submission at a time (which names the culprit). Concurrent kernels
    run as the same user and can reach each other's scratch course: use ``workers > 1`` only
    when kernels are sandboxed or the class is trusted (see the instructor guide).
    """
    root = Path(root)
    if not CourseDir(root).gradebook.exists():
        run_nbgrader(root, "db", "assignment", "add", name)
    collected = CourseDir(root).submissions.glob(f"*/{name}")
    submitted = sorted(p.parent.name for p in collected if p.is_dir())
    todo = list(students or submitted)
    if workers > 1 and len(todo) > 1:
        return _autograde_parallel(name, root, todo, timeout, workers)
    results = []
    for student in todo:
        _prepare_gradebook(root, name)
        wire = Tripwire(_trusted_paths(root, name))
        result = _grade_collected(root, name, student, timeout)
        changed = wire.restore()
        if changed:
            result.incidents.append("changed trusted files, restored: " + ", ".join(changed))
        _record_collected(root, name, result)
        results.append(result)
    return results


def _autograde_parallel(name, root, students, timeout, workers):
    from concurrent.futures import ThreadPoolExecutor

    _prepare_gradebook(root, name)
    wire = Tripwire(_trusted_paths(root, name))  # also builds the template before the threads
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda s: _grade_collected(root, name, s, timeout), students))
    if wire.restore():
        logging.getLogger(__name__).warning(
            "trusted files changed while grading %s in parallel: grading them one at a time",
            ", ".join(students),
        )
        return autograde(name, root, students=students, timeout=timeout, workers=1)
    for result in results:
        _record_collected(root, name, result)
    return results


def _trusted_paths(root, name):
    """What no submission may change: the instructor's gradebook, the source, the scratch
    template every submission's course is copied from, and the grading code."""
    source_dir = CourseDir(root).source / name
    return [
        CourseDir(root).gradebook,
        source_dir,
        template_course(source_dir),
        PACKAGE_DIR,
        Path(bnlab.__file__).parent,
    ]


def _prepare_gradebook(root, name):
    from nbgrader.api import Gradebook

    with Gradebook(CourseDir(root).gradebook_url) as gb:
        try:
            gb.find_assignment(name)
        except Exception:  # noqa: BLE001 - MissingEntry: the assignment is new
            gb.update_or_create_assignment(name)
    # the gradebook needs the notebook and cell definitions: generate once, in place
    _ensure_assignment_in_gradebook(root, name)


def _grade_collected(root, name, student, timeout):
    course = CourseDir(root)
    return grade_in_scratch(
        course.source / name,
        course.submitted(student, name),
        student,
        timeout=timeout,
        keep=course.autograded(student, name),
    )


def _record_collected(root, name, result):
    ts_file = CourseDir(root).submitted(result.student, name) / "timestamp.txt"
    timestamp = ts_file.read_text().strip() if ts_file.exists() else None
    _record(CourseDir(root).gradebook_url, result, timestamp)


def _ensure_assignment_in_gradebook(root, name):
    """Make sure the instructor's gradebook knows the notebooks and graded cells of `name`."""
    from nbgrader.api import Gradebook

    with Gradebook(CourseDir(root).gradebook_url) as gb:
        known = bool(gb.find_assignment(name).notebooks)
    if not known:
        run_nbgrader(root, "generate_assignment", name, "--force")
