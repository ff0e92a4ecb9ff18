"""Where everything of the course lives, and what a student may never see.

Every tool of the course (grading, the notebook forms and editions, the benchmarks, the tests)
takes its folder names, nbgrader's markers and the paths of a course directory from here.
"""

import re
from dataclasses import dataclass
from pathlib import Path

#: the course folder this package is installed from (``pip install -e .``: src/course/..)
REPO_ROOT = Path(__file__).resolve().parents[2]

CHAPTERS = "chapters"
NOTEBOOKS = "notebooks"
SOLUTIONS = "solutions"  # nbgrader's source: complete solutions and hidden tests
EXERCISES = "exercises"  # nbgrader's release: the student versions
EXERCISE_PAGES = "exercise_pages"
#: independently written submissions with the score each deserves (secret, like solutions/)
CORPUS = "corpus"
GRADEBOOK = "gradebook.db"
#: the nbgrader course id, set here only (the course's and the hub's nbgrader configs read it)
COURSE_ID = "bn-course"
#: nbgrader 0.9's default exchange; it must exist before the first release (hub/setup-exchange.sh)
EXCHANGE_ROOT = "/usr/local/share/nbgrader/exchange"

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
MARKERS = SOLUTION_MARKERS + HIDDEN_MARKERS

#: a secret line shorter than this (``return y``, ``pass``) says nothing about the solution
MIN_SECRET_LENGTH = 12
_PUBLIC_ANYWAY = re.compile(r"^(#|from |import )")


def region_lines(source, markers=(SOLUTION_MARKERS, HIDDEN_MARKERS)):
    """The stripped lines of `source` inside any ``(begin, end)`` pair of `markers`."""
    inside, lines = None, []
    for line in source.splitlines():
        s = line.strip()
        begins = [end for begin, end in markers if s == begin]
        if begins:
            inside = begins[0]
        elif s == inside:
            inside = None
        elif inside:
            lines.append(s)
    return lines


def secret_lines(source, markers=(SOLUTION_MARKERS, HIDDEN_MARKERS)):
    """The lines of `source` that a student may never see: THE rule of the course.

    Every line inside a solution or hidden-test region, except comments, imports and lines
    shorter than :data:`MIN_SECRET_LENGTH`, which would reveal nothing.
    """
    return [
        s
        for s in region_lines(source, markers)
        if len(s) >= MIN_SECRET_LENGTH and not _PUBLIC_ANYWAY.match(s)
    ]


@dataclass(frozen=True)
class CourseDir:
    """Every path of an nbgrader course directory rooted at `root`."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self):
        return self.root / "nbgrader_config.py"

    @property
    def source(self):
        return self.root / SOLUTIONS

    @property
    def release(self):
        return self.root / EXERCISES

    @property
    def gradebook(self):
        return self.root / GRADEBOOK

    @property
    def gradebook_url(self):
        return f"sqlite:///{self.gradebook}"

    @property
    def submissions(self):
        """``submitted/``: what ``nbgrader collect`` gathered, one folder per student."""
        return self.root / "submitted"

    def submitted(self, student, assignment):
        return self.submissions / student / assignment

    def autograded(self, student, assignment):
        return self.root / "autograded" / student / assignment


def inbound(exchange):
    """The folder of a filesystem exchange where ``nbgrader submit`` leaves submissions."""
    return Path(exchange) / COURSE_ID / "inbound"
