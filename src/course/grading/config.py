"""The nbgrader settings of the course in one place (nbgrader_config.py and scratch dirs)."""

import os
import sys
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor

from course.grading.session import cell_timeout
from course.layout import COURSE, COURSE_ID, EXCHANGE_ROOT, CourseDir


class RefuseAutograde(NbGraderPreprocessor):
    """``nbgrader autograde`` (and Formgrader's autograde button) would run a submission in an
    unsandboxed kernel and score what that kernel printed: this course refuses it."""

    def preprocess(self, nb, resources):
        raise RuntimeError(
            "this course does not grade with `nbgrader autograde`: run "
            "`python -m course.grading autograde ASSIGNMENT` (a sandboxed kernel, scores decided "
            "outside it; see the instructor guide)"
        )


#: the environment variable that overrides the term secret of nbgrader_config.py
TERM_SECRET_ENV = "BNLAB_TERM_SECRET"


def term_secret(config_file=None):
    """The course's secret of this term, from which every hidden test draws its inputs
    (:func:`course.grading.referee.hidden_rng`): ``$BNLAB_TERM_SECRET`` if set, else the string
    ``TERM_SECRET = "..."`` of the instructor's ``nbgrader_config.py`` (read as text, never run).
    A new value each term makes last term's table of hidden inputs and answers worthless."""
    if os.environ.get(TERM_SECRET_ENV):
        return os.environ[TERM_SECRET_ENV]
    import ast

    path = Path(config_file or COURSE.config)
    if path.is_file():
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets] == ["TERM_SECRET"]
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                and node.value.value.strip()
            ):
                return node.value.value
    raise RuntimeError(
        f'no term secret for the hidden tests: set TERM_SECRET = "..." in {path} (a new '
        "random value each term: python -c 'import secrets; print(secrets.token_hex(16))') or "
        f"the environment variable {TERM_SECRET_ENV}"
    )


def prepend_bindir():
    """Put this environment's scripts first on PATH: nbgrader runs the ``alembic`` of its own
    environment when it creates a gradebook (idempotent)."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])


def apply(c, root, *, source=None, release=None, exchange=None):
    """Fill the traitlets config `c` for a course rooted at `root` (`source`, `release`: the
    folder names, by default those of :class:`course.layout.CourseDir`)."""
    prepend_bindir()
    course = CourseDir(root)
    c.CourseDirectory.root = str(course.root)
    c.CourseDirectory.source_directory = source or course.source.name
    c.CourseDirectory.release_directory = release or course.release.name
    c.CourseDirectory.course_id = COURSE_ID
    c.Exchange.root = str(exchange or os.environ.get("BNLAB_EXCHANGE") or EXCHANGE_ROOT)
    # collected submissions are not left world-writable (nbgrader copies the 0777 of submit)
    c.ExchangeFactory.collect = "course.exchange.Collect"
    # `nbgrader validate` of the course's own notebooks: a per-cell time limit
    c.Execute.timeout = int(cell_timeout())
    c.Execute.interrupt_on_timeout = True
    c.Execute.iopub_timeout = 10
    # grading is `python -m course.grading autograde`, never nbgrader's own kernel-scored run
    c.Autograde.sanitize_preprocessors = ["course.grading.config.RefuseAutograde"]
    # feedback shows scores and error names, never the text of hidden tests
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "course.grading.feedback.HideHiddenTests",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    return c
