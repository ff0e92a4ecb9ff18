"""The nbgrader settings of the course in one place (nbgrader_config.py and scratch dirs)."""

import os
import sys

from nbgrader.preprocessors import NbGraderPreprocessor

from course.grading.session import cell_timeout
from course.layout import COURSE_ID, EXCHANGE_ROOT


class RefuseAutograde(NbGraderPreprocessor):
    """``nbgrader autograde`` (and Formgrader's autograde button) would run a submission in an
    unsandboxed kernel and score what that kernel printed: this course refuses it."""

    def preprocess(self, nb, resources):
        raise RuntimeError(
            "this course does not grade with `nbgrader autograde`: run "
            "`python -m course.grading autograde ASSIGNMENT` (a sandboxed kernel, scores decided "
            "outside it; see the instructor guide)"
        )


def prepend_bindir():
    """Put this environment's scripts first on PATH: nbgrader runs the ``alembic`` of its own
    environment when it creates a gradebook (idempotent)."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])


def apply(c, root, *, source="solutions", release="exercises", exchange=None):
    """Fill the traitlets config `c` for a course rooted at `root`."""
    prepend_bindir()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = source
    c.CourseDirectory.release_directory = release
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
