# nbgrader configuration of the course. The course root is this folder:
#   solutions/<assignment>/*.ipynb   nbgrader's source  (complete solutions + hidden tests)
#   exercises/<assignment>/*.ipynb   nbgrader's release (student versions, generated, committed)
# Everything else (gradebook.db, submitted/, autograded/, feedback/) is working state, not in git.
# The settings themselves live in the installed course.grading.config, so that scratch course
# dirs share them.
from pathlib import Path

from course.grading.config import apply

# The secret of this term: every hidden test draws its inputs from it (course.grading.referee's
# hidden_rng), so a table of last term's hidden inputs and answers is worthless. Set a new
# random value each term (python -c 'import secrets; print(secrets.token_hex(16))') before
# grading, keep it for the whole term (a regrade then sees the same inputs), and keep this file
# private like solutions/. The environment variable BNLAB_TERM_SECRET overrides it.
TERM_SECRET = "bnlab-2026-autumn-5d1c0f3e9a7b4c21"

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file
apply(c, Path(__file__).resolve().parent)
