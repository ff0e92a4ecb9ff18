"""Autograding every collected submission of an assignment, each in isolation.

The instructor's gradebook is written only by this (trusted) process, after the student's kernel
has exited, with the scores read from the autograded notebook. A tripwire snapshots the
instructor's gradebook and the trusted files (source notebooks, `course.grading`, `bnlab`) before
each student and restores any byte the student's code changed.
"""

import logging
import warnings
from pathlib import Path

import bnlab
from course.grading import PACKAGE_DIR
from course.grading.isolation import grade_in_scratch, template_course
from course.grading.runner import run_nbgrader
from course.grading.tripwire import Tripwire
from course.layout import REPO_ROOT, CourseDir


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
