"""Grading tools for the course's nbgrader exercises.

- `course.grading.referee`     hidden tests use it (the kernel side): `agree`, `expect_*`
- `course.grading.judge`       the trusted side: reference and comparison in a fresh interpreter
- `course.grading.references`  adapters the hidden tests name by dotted path
- `course.grading.kernels`  the grading kernel (memory limit) that nbgrader_config.py selects
- `course.grading.runner`     nbgrader as a subprocess in a course directory
- `course.grading.release`    generate exercises/, check it for drift and leaks
- `course.grading.scores`     scores per graded cell and per part
- `course.grading.tripwire`   a byte snapshot of trusted files, restored after each student
- `course.grading.isolation`  one submission graded in a scratch course; self-grading
- `course.grading.autograde`  every collected submission, in isolation, into the gradebook
- `course.grading.scan`     static scan of submissions for tampering, for the instructor's review
- `python -m course.grading --help` lists the commands.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
KERNEL_NAME = "bnlab-grader"

#: the bnlab modules that hidden tests grade against (numpy only), made read-only in the grading
#: kernel and importable by name in references; torch's and matplotlib's stay out (memory, time)
REFERENCE_MODULES = tuple(
    f"bnlab.{m}" for m in ("moments", "gradvar", "batchnorm", "norms", "gradcheck", "data")
)
