# nbgrader configuration of the course. The course root is this folder:
#   solutions/<assignment>/*.ipynb   nbgrader's source  (complete solutions + hidden tests)
#   exercises/<assignment>/*.ipynb   nbgrader's release (student versions, generated, committed)
# Everything else (gradebook.db, submitted/, autograded/, feedback/) is working state, not in git.
# The settings themselves live in grading/config.py so that scratch course dirs share them.
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grading.config import apply  # noqa: E402

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file
apply(c, ROOT)
