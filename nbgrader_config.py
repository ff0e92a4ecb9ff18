# nbgrader configuration of the course. The course root is this folder:
#   solutions/<assignment>/*.ipynb   nbgrader's source  (complete solutions + hidden tests)
#   exercises/<assignment>/*.ipynb   nbgrader's release (student versions, generated, committed)
# Everything else (gradebook.db, submitted/, autograded/, feedback/) is working state, not in git.
# The settings themselves live in the installed course.grading.config, so that scratch course
# dirs share them.
from pathlib import Path

from course.grading.config import apply

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file
apply(c, Path(__file__).resolve().parent)
