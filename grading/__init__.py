"""Grading tools for the course's nbgrader exercises.

- `grading.referee`  hidden tests use it: the reference runs in a fresh interpreter
- `grading.kernels`  the grading kernel (memory limit) that nbgrader_config.py selects
- `grading.course`   generate, drift check, isolated autograding, self-grading
- `grading.scan`     static scan of submissions for tampering, for the instructor's review
- `python -m grading --help` lists the commands.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
KERNEL_NAME = "bnlab-grader"
