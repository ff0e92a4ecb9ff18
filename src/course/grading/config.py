"""The nbgrader settings of the course in one place (nbgrader_config.py and scratch dirs)."""

import os
import sys

from course.grading import KERNEL_NAME, PACKAGE_DIR
from course.layout import COURSE_ID, EXCHANGE_ROOT

#: seconds a single cell may run before it is interrupted (and graded as an error)
CELL_TIMEOUT = int(os.environ.get("BNLAB_CELL_TIMEOUT", "60"))


def kernel_path():
    """Make the memory-limited grading kernel visible to jupyter_client (idempotent)."""
    kernels = str(PACKAGE_DIR / "kernels")
    # jupyter looks in <dir>/kernels for every dir in JUPYTER_PATH
    base = str(PACKAGE_DIR)
    parts = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if base not in parts:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([base, *parts])
    return kernels


def prepend_bindir():
    """Put this environment's scripts first on PATH: nbgrader runs the ``alembic`` of its own
    environment when it creates a gradebook (idempotent)."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])


def apply(c, root, *, source="solutions", release="exercises", exchange=None):
    """Fill the traitlets config `c` for a course rooted at `root`."""
    kernel_path()
    prepend_bindir()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = source
    c.CourseDirectory.release_directory = release
    c.CourseDirectory.course_id = COURSE_ID
    c.Exchange.root = str(exchange or os.environ.get("BNLAB_EXCHANGE") or EXCHANGE_ROOT)
    # collected submissions are not left world-writable (nbgrader copies the 0777 of submit)
    c.ExchangeFactory.collect = "course.exchange.Collect"
    # grading runs untrusted code: a per-cell time limit and the memory-limited kernel
    c.Execute.timeout = CELL_TIMEOUT
    c.Execute.interrupt_on_timeout = True
    c.Execute.kernel_name = KERNEL_NAME
    c.Execute.iopub_timeout = 10
    # a submission that deleted a graded test cell gets it back (and its points only if it passes)
    c.OverwriteCells.add_missing_cells = True
    # feedback shows scores and error names, never the text of hidden tests
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "course.grading.feedback.HideHiddenTests",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    return c
