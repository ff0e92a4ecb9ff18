"""Autograding every collected submission of an assignment, in one trusted process.

For a batch: the sandbox is probed (grading refuses without it unless the instructor passes
``sandboxed=False``, the CLI's ``--no-sandbox``); the reference solution is graded through the
same pipeline as a **canary** and must score full marks, or nothing is graded (a broken grading
environment never turns into wrong grades); then every submission is graded
(:func:`course.grading.submission.grade_submission`), each in a sandbox of its own and by a
worker process of its own whose memory and time are bounded (:mod:`course.grading.worker`), and
the scores are written into the instructor's gradebook by this process only, each submission's
as soon as it is graded (a failure later in the batch loses nothing already graded).

With ``workers > 1`` that many submissions are graded at the same time. That is safe only because
each kernel is sandboxed: it sees no other submission, no gradebook and no course files, so it
is refused without the sandbox.
"""

import logging
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import bnlab
from course.grading import PACKAGE_DIR, sandbox, worker
from course.grading.runner import run_nbgrader
from course.grading.scores import Result
from course.grading.submission import grade_submission
from course.grading.text import clean
from course.grading.tripwire import Tripwire
from course.layout import REPO_ROOT, CourseDir

CANARY = "(reference solution)"


class GradingEnvironmentError(RuntimeError):
    """The grading environment is broken: the reference solution does not score full marks."""


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


def canary(source_dir, *, sandboxed=True, timeout=1800):
    """Grade the reference solution itself; raise :class:`GradingEnvironmentError` with what
    failed unless it scores full marks."""
    result = grade_submission(source_dir, source_dir, CANARY, sandboxed=sandboxed, timeout=timeout)
    if result.total != result.max_total:
        failed = [
            f"  {nb}: {gid}: {result.messages[nb].get(gid, 'not run')}"
            for nb, cells in result.scores.items()
            for gid, (got, mx) in cells.items()
            if got != mx
        ]
        raise GradingEnvironmentError(
            f"the reference solution of {Path(source_dir).name} scores {result.total:g} / "
            f"{result.max_total:g} in this grading environment, so no submission was graded.\n"
            + "\n".join(failed + [f"  ! {i}" for i in result.incidents])
            + "\nCheck that the Python that runs the grader has the course's environment "
            "(bnlab importable: `python -c 'import bnlab'`) and that the sandbox starts "
            "(`python -m course.grading check-sandbox`)."
        )
    return result


def autograde(name, root=REPO_ROOT, *, students=None, timeout=1800, workers=1, sandboxed=True,
              check_canary=True):  # fmt: skip
    """Autograde every collected submission of assignment `name` in course `root` and record the
    scores in ``root/gradebook.db``. Returns a list of :class:`~course.grading.scores.Result`.

    Raises :class:`~course.grading.sandbox.SandboxUnavailable` if the sandbox cannot start
    (unless ``sandboxed=False``) and :class:`GradingEnvironmentError` if the reference solution
    does not score full marks.
    """
    root, course = Path(root), CourseDir(root)
    if sandboxed:
        sandbox.probe()
        if workers > 1 and not sandbox.cpu_bounded():
            raise ValueError(
                "workers > 1 needs a CPU share per sandbox (a writable cgroup with the cpu "
                "controller: grade as root; or the kernel's automatic scheduling groups), or a "
                "submission's busy children would slow its neighbour past the cell time limit; "
                "grade with --workers 1 here"
            )
    elif workers > 1:
        raise ValueError("workers > 1 needs the sandbox: unsandboxed kernels can reach each other")
    source_dir = course.source / name
    if not source_dir.is_dir():
        raise ValueError(f"assignment {name!r}: no folder {source_dir}")
    _prepare_gradebook(root, name)
    collected = course.submissions.glob(f"*/{name}")
    todo = list(students or sorted(p.parent.name for p in collected if p.is_dir()))
    if check_canary:
        canary(source_dir, sandboxed=sandboxed, timeout=timeout)

    def grade(student):
        wire = None if sandboxed else Tripwire(_trusted_paths(root, name))
        try:
            result = worker.grade(
                source_dir,
                course.submitted(student, name),
                student,
                sandboxed=sandboxed,
                timeout=timeout,
                keep=course.autograded(student, name),
            )
        except Exception as exc:  # noqa: BLE001 - one submission must not stop the batch
            logging.getLogger(__name__).exception("grading %s failed", clean(student, 200))
            result = Result(student, name, ungraded=True)
            result.incidents.append(
                f"NOT GRADED: the grader failed on this submission ({type(exc).__name__}); "
                "nothing was recorded for it: look at it, then grade it again or by hand"
            )
        changed = wire.restore() if wire is not None else []
        if changed:
            result.incidents.append("changed trusted files, restored: " + ", ".join(changed))
        return result

    def record(result):
        if result.ungraded:
            return
        ts_file = course.submitted(result.student, name) / "timestamp.txt"
        timestamp = ts_file.read_text().strip()[:100] if ts_file.exists() else None
        _record(course.gradebook_url, result, timestamp)

    # each result is recorded as soon as it is there, by this thread only
    by_student = {}
    if workers > 1 and len(todo) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(grade, s) for s in todo]
            for future in as_completed(futures):
                result = future.result()
                record(result)
                by_student[result.student] = result
    else:
        for student in todo:
            by_student[student] = result = grade(student)
            record(result)
    return [by_student[s] for s in todo]


def recorded_scores(root, name, students):
    """``{student: {notebook: {grade_id: (score, max)}}}`` as the gradebook of course `root`
    holds them for assignment `name`: the autograde report prints these, never a text of the
    grading run."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(CourseDir(root).gradebook_url) as gb:
        for student in students:
            try:
                submission = gb.find_submission(name, student)
            except MissingEntry:
                continue
            out[student] = {
                nb.name: {g.name: (float(g.score or 0), float(g.max_score)) for g in nb.grades}
                for nb in submission.notebooks
            }
    return out


def _trusted_paths(root, name):
    """What an unsandboxed kernel could change and the tripwire restores: the gradebook, the
    source, the grading code and bnlab."""
    return [
        CourseDir(root).gradebook,
        CourseDir(root).source / name,
        CourseDir(root).config,
        PACKAGE_DIR,
        Path(bnlab.__file__).parent,
    ]


def _prepare_gradebook(root, name):
    """Make sure the instructor's gradebook knows assignment `name`, its notebooks and graded
    cells (``nbgrader generate_assignment`` once, in the instructor's course)."""
    from nbgrader.api import Gradebook, MissingEntry

    course = CourseDir(root)
    if not course.gradebook.exists():
        run_nbgrader(root, "db", "assignment", "add", name)
    with Gradebook(course.gradebook_url) as gb:
        try:
            known = bool(gb.find_assignment(name).notebooks)
        except MissingEntry:
            gb.update_or_create_assignment(name)
            known = False
    if not known:
        run_nbgrader(root, "generate_assignment", name, "--force")
