"""Grading one submission in a scratch course of its own (also a learner's self-grading).

Each submission is autograded in a **scratch course directory** holding a copy of the source and
a gradebook without any other student; the scores are read back from the autograded notebook.
"""

import shutil
import tempfile
from pathlib import Path

import nbformat

from course import layout
from course.grading.runner import run_nbgrader, write_config
from course.grading.scores import Result, part_of_cells, scores_of
from course.layout import REPO_ROOT, CourseDir


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
