"""Grading tools for the course's nbgrader exercises.

Trusted side (the grader's process):

- `course.grading.autograde`  a batch: sandbox probe, canary, every submission, the gradebook
- `course.grading.worker`     one submission in a process of its own, memory and time bounded
- `course.grading.submission` one submission: which cells run, which tests are judged, feedback
- `course.grading.judge`      runs a test cell of the course's copy here, decides its points
- `course.grading.referee`    what hidden tests call: `agree`, `expect_choice`, `expect_number`
- `course.grading.references` adapters the hidden tests name by dotted path
- `course.grading.session`    the grader's end of a kernel: requests, time limits, restarts
- `course.grading.sandbox`    bubblewrap, cgroups and resource limits around the kernel
- `course.grading.wire`       the channel's framing and plain values (both sides)
- `course.grading.text`       the kernel's text escaped and bounded for logs, messages, feedback
- `course.grading.runner`, `config`  nbgrader as a subprocess, the course's nbgrader settings
- `course.grading.exercises`  generate exercises/, check it for drift and leaks
- `course.grading.scores`, `feedback`, `scan`, `tripwire`  scores, feedback scrubbing, a static
  tamper scan for the instructor's review, a byte snapshot for unsandboxed grading

Untrusted side (inside the sandbox): `course.grading.kernel`, the learner's kernel.
- `python -m course.grading --help` lists the commands.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
