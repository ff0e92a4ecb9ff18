"""Start an IPython kernel with an address-space limit, for grading untrusted notebooks.

jupyter_client replaces the leading "python" of kernel.json with the interpreter that runs
nbgrader, so the kernel uses the course's virtual environment. The limit (bytes) comes from
BNLAB_GRADER_MEMORY (default 2 GiB); soft and hard limits are both set, so code in the
kernel cannot raise them again (unless it runs as root: see the instructor guide). A
submission that allocates more gets a MemoryError in the cell that tried, and only there.
"""

import os
import resource
import sys
from pathlib import Path

limit = int(os.environ.get("BNLAB_GRADER_MEMORY", str(2 * 1024**3)))
if limit > 0:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

# the hidden tests import grading.referee: make the repository importable, nothing else
sys.path[0] = str(Path(__file__).resolve().parents[3])

from ipykernel import kernelapp  # noqa: E402

kernelapp.launch_new_instance()
