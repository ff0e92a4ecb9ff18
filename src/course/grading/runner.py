"""nbgrader, run as a subprocess in a course directory that uses the course's configuration.

Every nbgrader step runs as an ``nbgrader`` subprocess in a course directory whose
``nbgrader_config.py`` calls :func:`course.grading.config.apply`, so the instructor's commands
and these helpers share one configuration.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from course import layout
from course.grading import config
from course.layout import CourseDir

CONFIG_TEMPLATE = """\
from course.grading.config import apply
apply(get_config(), {root!r}, source={source!r}, release={release!r})
"""


def nbgrader_bin():
    """The nbgrader executable of this environment."""
    return str(Path(sys.executable).with_name("nbgrader"))


def write_config(root, source=None, release=None):
    """Make `root` a course directory that uses the course's configuration (`source`,
    `release`: folder names other than :class:`course.layout.CourseDir`'s)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    text = CONFIG_TEMPLATE.format(root=str(root), source=source, release=release)
    CourseDir(root).config.write_text(text)
    return root


def run_nbgrader(root, *args, timeout=None, check=True):
    """Run ``nbgrader ARGS`` in course directory `root`; returns the CompletedProcess."""
    config.prepend_bindir()
    proc = subprocess.Popen(
        [nbgrader_bin(), *args],
        cwd=str(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out += f"\n[grading] nbgrader {args[0]} killed after {timeout} s"
        proc.returncode = -9
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{out[-3000:]}")
    return result


def assignments(source=layout.COURSE.source):
    """Assignment ids: the folders of the source directory that hold notebooks."""
    return sorted(p.name for p in Path(source).iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
