"""Where everything of the course lives, what a notebook cell is, and what a student may never see.

Every tool of the course (grading, the notebook forms and editions, the benchmarks, the tests)
takes its folder names and the paths of a course directory (:class:`CourseDir`, the only place
that composes them) from here, reads nbgrader's markers with :func:`regions` (the only reader
of them) and a cell's part in grading with :func:`cell_kind` (nbgrader's own helpers).
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


#: the kinds of region, named after nbgrader's cells
SOLUTION, HIDDEN = "solution", "hidden tests"
_BEGINS = {SOLUTION_MARKERS[0]: SOLUTION, HIDDEN_MARKERS[0]: HIDDEN}
_ENDS = {SOLUTION_MARKERS[1]: SOLUTION, HIDDEN_MARKERS[1]: HIDDEN}


class MarkerError(ValueError):
    """The markers of a cell do not pair up (nbgrader refuses such a notebook, and so do we)."""


@dataclass(frozen=True)
class Region:
    """One marker region of a cell: its `kind` (:data:`SOLUTION` or :data:`HIDDEN`) and the
    0-based numbers of the lines of its begin and end markers."""

    kind: str
    begin: int
    end: int

    @property
    def inner(self):
        """The line numbers between the two markers."""
        return range(self.begin + 1, self.end)


def _cell_name(cell):
    if cell is None or isinstance(cell, str):
        return cell or "a cell"
    gid, cid = grade_id(cell), cell.get("id")
    return f"cell {gid!r}" if gid else f"cell {cid!r}" if cid else "a cell without an id"


def regions(source, cell=None):
    """Every marker region of `source`, in order: THE reader of nbgrader's markers.

    A marker is a line that is one of :data:`MARKERS` but for white space around it. A region
    that is never closed, an end marker without its begin, or a begin marker inside another
    region raise :class:`MarkerError` naming `cell` (a notebook cell, or words that name it).

    >>> regions("a\\n### BEGIN SOLUTION\\nb\\n### END SOLUTION")
    [Region(kind='solution', begin=1, end=3)]
    """
    out, open_ = [], None
    for i, line in enumerate(source.splitlines()):
        s = line.strip()
        if s in _BEGINS:
            if open_ is not None:
                raise MarkerError(
                    f"{_cell_name(cell)}: `{s}` (line {i + 1}) inside the {open_.kind} region "
                    f"begun at line {open_.begin + 1}"
                )
            open_ = Region(_BEGINS[s], i, -1)
        elif s in _ENDS:
            if open_ is None or open_.kind != _ENDS[s]:
                inside = f"the {open_.kind} region" if open_ else "no region"
                raise MarkerError(f"{_cell_name(cell)}: `{s}` (line {i + 1}) ends {inside}")
            out.append(Region(open_.kind, open_.begin, i))
            open_ = None
    if open_ is not None:
        raise MarkerError(
            f"{_cell_name(cell)}: the {open_.kind} region begun at line {open_.begin + 1} is "
            "never closed"
        )
    return out


def _kinds(markers):
    return {_BEGINS[begin] for begin, _ in markers}


def region_lines(source, markers=(SOLUTION_MARKERS, HIDDEN_MARKERS), cell=None):
    """The stripped lines of `source` inside the regions of the given ``(begin, end)`` pairs of
    `markers` (:func:`regions`)."""
    lines, kinds = source.splitlines(), _kinds(markers)
    return [lines[i].strip() for r in regions(source, cell) if r.kind in kinds for i in r.inner]


def hidden_line_numbers(source, cell=None):
    """The 0-based numbers of the lines of `source` in a hidden-test region, markers included."""
    return {i for r in regions(source, cell) if r.kind == HIDDEN for i in range(r.begin, r.end + 1)}


def secret_lines(source, markers=(SOLUTION_MARKERS, HIDDEN_MARKERS), cell=None):
    """The lines of `source` that a student may never see: THE rule of the course.

    Every line inside a solution or hidden-test region, except comments, imports and lines
    shorter than :data:`MIN_SECRET_LENGTH`, which would reveal nothing.
    """
    return [
        s
        for s in region_lines(source, markers, cell)
        if len(s) >= MIN_SECRET_LENGTH and not _PUBLIC_ANYWAY.match(s)
    ]


#: what nbgrader makes of a cell (nbgrader's own names for its cell types)
ANSWER = "autograded answer"  # solution, not graded: the learner writes it, tests grade it
GRADED_ANSWER = "manually graded answer"  # solution and graded: a person grades it
TESTS = "autograder tests"  # graded, not a solution: the tests (visible and hidden)
TASK = "manually graded task"
LOCKED = "read-only"
PLAIN = "plain"  # no part of grading
ANSWERS = (ANSWER, GRADED_ANSWER)
GRADED = (GRADED_ANSWER, TESTS)


def cell_kind(cell):
    """The kind of notebook `cell` for nbgrader, decided by nbgrader's own helpers
    (``nbgrader.utils.is_solution``, ``is_grade``, ``is_task``, ``is_locked``): one of
    :data:`ANSWER`, :data:`GRADED_ANSWER`, :data:`TESTS`, :data:`TASK`, :data:`LOCKED`,
    :data:`PLAIN`. Every reader of a cell's nbgrader metadata asks here."""
    from nbgrader import utils  # slow to import: only where cells are graded

    if utils.is_solution(cell):
        return GRADED_ANSWER if utils.is_grade(cell) else ANSWER
    if utils.is_grade(cell):
        return TESTS
    if utils.is_task(cell):
        return TASK
    return LOCKED if utils.is_locked(cell) else PLAIN


def grade_id(cell):
    """The ``grade_id`` nbgrader gave `cell`, or None."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def points(cell):
    """The points of graded `cell` (0 when it says none)."""
    return float(cell.get("metadata", {}).get("nbgrader", {}).get("points", 0))


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
    def corpus(self):
        """``corpus/``: independently written submissions with their deserved scores."""
        return self.root / CORPUS

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


#: the course directory of this repository (its ``solutions/``, ``exercises/``, ``corpus/``)
COURSE = CourseDir(REPO_ROOT)


def inbound(exchange):
    """The folder of a filesystem exchange where ``nbgrader submit`` leaves submissions."""
    return Path(exchange) / COURSE_ID / "inbound"
