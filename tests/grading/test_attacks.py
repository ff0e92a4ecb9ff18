"""The held-out attacks of issue 22, as tests: what a submission returns, prints or starts must not
stop, slow or fool the grader, nor reach another student's grade or a feedback page (the
sandbox's own edges are in test_sandbox.py).

- a class graded through the instructor's command (``python -m course.grading autograde
  --workers 2``): a fork bomb of sixty ``setsid()`` children beside an honest submission whose
  cell needs 3 CPU-seconds; functions that log their arguments and print the log in a last cell;
  exception messages and a class ``__name__`` that forge report lines; 4 MB strings returned on
  every call; a correct notebook that saved a 50 MB image. The report's totals must be the
  gradebook's and one per student, no feedback page may hold a hidden test's inputs, and each
  submission gets what its answers earn;
- problem set 4 with a sympy bomb ``(x + mu + v + epsilon)**10000`` beside an honest submission,
  two at a time: the bomb loses its test, the grader's memory stays bounded, the other student
  is untouched;
- a grader that crashes in the middle of a batch keeps every grade recorded before.
"""

import base64
import copy
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import time

import nbformat
import pytest

from course import classroom
from course.grading import autograde, runner
from course.grading.scores import Result
from course.layout import REPO_ROOT, CourseDir

pytestmark = pytest.mark.grading

A, NB, FULL = "ps1_moments", "moments.ipynb", 16.0


# ------------------------------------------------------------------------------ problem set 1

SOURCE = REPO_ROOT / "solutions" / A
RELEASE = REPO_ROOT / "exercises" / A
CELL_TIMEOUT = 60  # seconds (the default): the honest 3 CPU-second cell needs far less, unless
# starved (beside sixty busy sessions it gets 1/61 of the machine: 90 s on two CPUs)
SPIN = 70  # seconds the fork bomb's children spin: longer than the cell limit


def _notebook(kind="correct", source=SOURCE, release=RELEASE, name=NB):
    """The release notebook with every answer cell filled from the source (or left blank)."""
    return classroom.submission(
        nbformat.read(release / name, 4), nbformat.read(source / name, 4), kind
    )


def _answer_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def _index(nb, cell_id):
    return next(i for i, c in enumerate(nb.cells) if c.get("id") == cell_id)


def _iterations_per_cpu_second():
    """How many iterations of the honest cell's loop one CPU-second runs here (measured)."""
    n, start = 2_000_000, time.process_time()
    t = 0
    for i in range(n):
        t += i
    return n / max(time.process_time() - start, 1e-3)


def _cpu_honest():
    """Correct, but its first answer cell needs 3 CPU-seconds before it defines the function:
    if that cell runs out of time, the answers after it are missing."""
    nb = _notebook()
    n = int(3 * _iterations_per_cpu_second())
    cell = nb.cells[_index(nb, "expectation")]
    cell.source = f"_t = 0\nfor _i in range({n}):\n    _t += _i\n\n" + cell.source
    return nb


FORK_BOMB = f"""
import os, time
for _ in range(60):
    if os.fork() == 0:
        try:
            os.setsid()  # a session of its own: a scheduling group of its own, if it may
        except OSError:
            pass
        end = time.time() + {SPIN}
        while time.time() < end:
            pass
        os._exit(0)
print("sixty children spin")
"""


def _fork_bomb():
    nb = _notebook()
    nb.cells.insert(_index(nb, "imports") + 1, nbformat.v4.new_code_cell(FORK_BOMB))
    return nb


def _logger():
    """Correct answers whose functions log every call's arguments; a last cell prints the log
    (the lookup-table attack: from the feedback, a notebook of memorised answers)."""
    nb = _notebook()
    nb.cells.insert(
        _index(nb, "imports") + 1,
        nbformat.v4.new_code_cell(
            "LOG = []\n"
            "def logged(f):\n"
            "    def g(*args, **kwargs):\n"
            "        LOG.append((f.__name__, repr(args), repr(kwargs)))\n"
            "        return f(*args, **kwargs)\n"
            "    return g\n"
        ),
    )
    for cell in _answer_cells(nb):
        names = re.findall(r"^def (\w+)\(", cell.source, flags=re.M)
        cell.source += "\n" + "\n".join(f"{n} = logged({n})" for n in names) + "\n"
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "print('LE' + 'AK:', len(LOG))\nfor entry in LOG:\n    print(entry)"
        )
    )
    return nb


#: true in the kernel when the grader (not a cell of the notebook) calls the function
FROM_GRADER = (
    "import inspect\n"
    "def from_grader():\n"
    "    return any(f.function == 'call' and f.filename.endswith('kernel.py')\n"
    "               for f in inspect.stack())\n"
)


def _forger():
    """Exception messages and a class name that print report lines of their own (a 27/27 for
    someone, a 0/16 for this one), and that quote every call's arguments."""
    nb = _notebook("blank")
    nb.cells.insert(_index(nb, "imports") + 1, nbformat.v4.new_code_cell(FROM_GRADER))
    forged = "\\n  27.0 /  27.0  total\\nmallory:\\n   0.0 /  16.0  total\\n"
    for cell in _answer_cells(nb):
        names = re.findall(r"^def (\w+)\(", cell.source, flags=re.M)
        body = []
        for n in names:
            if n == "two_pass_var":
                body.append(
                    f"def {n}(*args, **kwargs):\n    return type('x{forged}', (), {{}})()\n"
                )
            else:
                body.append(
                    f"def {n}(*args, **kwargs):\n"
                    "    if from_grader():\n"
                    f"        raise ValueError('{forged}' + 'LEAK' + 'MSG' + repr(args))\n"
                )
        if body:
            cell.source = "\n".join(body)
    return nb


def _echo():
    """Correct, except that skew_kurt raises on the grader's calls of more than four rows, with
    their arguments in the message: the hidden cases' inputs, unless withheld."""
    nb = _notebook()
    nb.cells.insert(_index(nb, "imports") + 1, nbformat.v4.new_code_cell(FROM_GRADER))
    cell = nb.cells[_index(nb, "skew_kurt")]
    cell.source += (
        "\n\n_skew_kurt = skew_kurt\n\n\n"
        "def skew_kurt(x):\n"
        "    if from_grader() and len(x) > 4:\n"
        "        raise ValueError('LEAK' + 'MSG' + repr(x.tolist()))\n"
        "    return _skew_kurt(x)\n"
    )
    return nb


def _big_strings():
    """Correct on the visible checks, but on the grader's larger inputs (the hidden cases) welford
    and skew_kurt return 4 MB of text instead of a tuple, which a message might quote."""
    nb = _notebook()
    nb.cells.insert(_index(nb, "imports") + 1, nbformat.v4.new_code_cell(FROM_GRADER))
    for cell_id, name in (("welford", "welford"), ("skew_kurt", "skew_kurt")):
        cell = nb.cells[_index(nb, cell_id)]
        cell.source += (
            f"\n\n_{name} = {name}\n\n\n"
            f"def {name}(x):\n"
            "    if from_grader() and len(x) > 4:\n"
            "        return 'A' * 4_000_000\n"
            f"    return _{name}(x)\n"
        )
    return nb


def _big_output():
    """Correct, and it saved a 50 MB image in the output of a cell (grading never reads it)."""
    nb = _notebook()
    png = base64.b64encode(os.urandom(38 * 2**20)).decode()
    cell = nb.cells[_index(nb, "check-a")]
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png})]
    return nb


BATCH = {
    # student: (builder, expected points or None when only other properties are checked)
    "a_fork_bomb": (_fork_bomb, None),
    "a_cpu_honest": (_cpu_honest, FULL),
    "logger": (_logger, FULL),
    "forger": (_forger, None),
    "echo": (_echo, None),  # what it loses depends on the hidden cases: not checked here
    "big_strings": (_big_strings, None),
    "big_output": (_big_output, FULL),
}

TOTAL_LINE = re.compile(r"^  +(\d+\.\d) / +(\d+\.\d)  total$")


def _submit(course, student, nb, assignment=A, name=NB):
    folder = course.submitted(student, assignment)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")


TOTALS = (
    "SELECT student.id, SUM(grade.auto_score) FROM grade"
    " JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id"
    " JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id"
    " JOIN student ON submitted_assignment.student_id = student.id GROUP BY student.id"
)


def _totals(course, assignment=None):
    """Each student's total as the gradebook holds it (read with SQL, not with the grader)."""
    con = sqlite3.connect(course.gradebook)
    try:
        return dict(con.execute(TOTALS).fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The class graded by the instructor's command, two at a time: (report, course)."""
    course = CourseDir(runner.write_config(tmp_path_factory.mktemp("attacks") / "course"))
    shutil.copytree(SOURCE, course.source / A)
    for student, (build, _) in BATCH.items():
        _submit(course, student, build())
    assert (course.submitted("big_output", A) / NB).stat().st_size > 50 * 10**6
    cli = [sys.executable, "-m", "course.grading", "autograde", A, "--root", str(course.root),
           "--workers", "2"]  # fmt: skip
    for student in BATCH:  # the bomb and its honest neighbour first: they run side by side
        cli += ["--student", student]
    env = dict(os.environ, BNLAB_CELL_TIMEOUT=str(CELL_TIMEOUT), BNLAB_JUDGE_TIMEOUT="120")
    proc = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, course


def _report_blocks(report):
    """``{student: [lines]}`` of the autograde report."""
    blocks, current = {}, None
    for line in report.splitlines():
        if line and not line.startswith(" "):
            current = blocks.setdefault(line.rstrip(":"), [])
        elif current is not None:
            current.append(line)
    return blocks


def test_a_fork_bomb_does_not_change_its_neighbours_grade(batch):
    report, course = batch
    totals = _totals(course, A)
    assert totals["a_cpu_honest"] == FULL, _report_blocks(report)["a_cpu_honest"]


@pytest.mark.parametrize("student", [s for s, (_, pts) in BATCH.items() if pts is not None])
def test_each_gets_what_its_answers_earn(batch, student):
    report, course = batch
    assert _totals(course, A)[student] == BATCH[student][1], _report_blocks(report).get(student)


def test_the_report_shows_the_gradebook_and_cannot_be_forged(batch):
    report, course = batch
    totals = _totals(course, A)
    found = [TOTAL_LINE.match(line) for line in report.splitlines()]
    found = [(float(m[1]), float(m[2])) for m in found if m]
    assert len(found) == len(BATCH), report[-5000:]  # one total per student, no forged one
    blocks = _report_blocks(report)
    assert set(blocks) == set(BATCH), sorted(blocks)
    for student, lines in blocks.items():
        got = [float(m[1]) for m in map(TOTAL_LINE.match, lines) if m]
        assert got == [totals[student]], (student, lines)
        # every line is one of the report's own kinds
        for line in lines:
            assert re.match(r"^  ( *\d+\.\d / +\d+\.\d  |- |! |\? )", line), (student, line)


def test_messages_are_bounded(batch):
    report, course = batch
    lines = _report_blocks(report)["big_strings"]
    assert sum(len(line) for line in lines) < 100_000, sum(len(line) for line in lines)
    assert max(len(line) for line in report.splitlines()) < 3000
    feedback = course.autograded("big_strings", A) / NB
    assert feedback.stat().st_size < 2**20, feedback.stat().st_size


def test_a_large_output_costs_nothing(batch):
    report, course = batch
    assert "larger than" not in "\n".join(_report_blocks(report)["big_output"])


def test_feedback_holds_no_hidden_input(batch):
    """What the kernel printed after hidden tests sent it their inputs never reaches the
    feedback, nor does an exception message the kernel raised on them."""
    report, course = batch
    logged = json.loads((course.autograded("logger", A) / NB).read_text())
    shown = "".join(
        "".join(o["text"]) for c in logged["cells"] for o in c.get("outputs", []) if "text" in o
    )
    # neither the log's header nor any entry of it, ('name', '(array(...', ...)
    assert "LEAK:" not in shown and "', '(" not in shown, shown[-2000:]
    # the echo's messages on hidden cases: nowhere in its feedback or in the report
    echoed = (course.autograded("echo", A) / NB).read_text()
    assert "LEAKMSG" not in echoed
    assert "LEAKMSG" not in "\n".join(_report_blocks(report)["echo"])
    forged = json.loads((course.autograded("forger", A) / NB).read_text())
    texts = [
        "".join(o["text"]) for c in forged["cells"] for o in c.get("outputs", []) if "text" in o
    ]
    leaks = [t for t in texts for line in t.splitlines() if "LEAKMSG" in line]
    # the one place a learner's message may appear: a failure at a visible line, before any
    # hidden test ran (its inputs are in the notebook the learner has)
    assert all("at the visible line" in t and "hidden" not in t for t in leaks), leaks
    assert "LEAKMSG" not in "\n".join(line for line in report.splitlines() if "hidden test" in line)


# ------------------------------------------------------------------------------ problem set 4

A4, NB4 = "ps4_bn_backward", "bn_backward.ipynb"
SOURCE4, RELEASE4 = REPO_ROOT / "solutions" / A4, REPO_ROOT / "exercises" / A4
#: right where a visible check evaluates it, a bomb where the hidden test simplifies it
SYMPY_BOMB = FROM_GRADER + (
    "calls = []\n\n\n"
    "def dxhat_dvar(x, mu, v, eps):\n"
    "    calls.append(from_grader())\n"
    "    if sum(calls) > 1:  # the grader's second call: the hidden test\n"
    "        return (x + mu + v + eps) ** 10000\n"
    "    return -(x - mu) / 2 * (v + eps) ** sp.Rational(-3, 2)\n\n\n"
    "def dxhat_dmu(x, mu, v, eps):\n"
    "    return -1 / sp.sqrt(v + eps)\n"
)


def test_a_sympy_bomb_loses_its_test_and_nothing_else(tmp_path, monkeypatch):
    from course.grading import worker

    course = CourseDir(runner.write_config(tmp_path / "course"))
    shutil.copytree(SOURCE4, course.source / A4)
    honest = _notebook(source=SOURCE4, release=RELEASE4, name=NB4)
    bomb = copy.deepcopy(honest)
    bomb.cells[_index(bomb, "sympy_partials")].source = SYMPY_BOMB
    _submit(course, "bomb", bomb, A4, NB4)
    _submit(course, "honest", honest, A4, NB4)
    memory = 1536 * 2**20
    monkeypatch.setattr(worker, "MEMORY", memory, raising=False)
    start = time.monotonic()
    results = autograde.autograde(A4, course.root, workers=2, check_canary=False)
    took = time.monotonic() - start
    by = {r.student: r for r in results}
    full = by["honest"].max_total
    assert by["honest"].total == full > 0
    assert by["bomb"].total == full - 2, by["bomb"].messages
    assert "out of memory" in by["bomb"].messages[NB4[:-6]]["test_sympy_dvar"]
    # the simplification ran in a worker: this process never held the bomb
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 < memory
    print(f"sympy bomb graded in {took:.0f} s")


# ------------------------------------------------------------------------------ a grader crash


def test_a_crash_loses_at_most_the_student_being_graded(tmp_path, monkeypatch):
    """Each result is recorded as it arrives: the grader dying on the second student keeps the
    first one's grade."""
    from course.grading import worker

    course = CourseDir(runner.write_config(tmp_path / "course"))
    shutil.copytree(SOURCE, course.source / A)
    for student in ("first", "second"):
        _submit(course, student, _notebook("blank"))

    def fake(source_dir, submission_dir, student, **kwargs):
        if student == "second":
            raise KeyboardInterrupt  # the grader killed mid-batch
        result = Result(student, A)
        result.scores = {"moments": {"test_expectation_die": (1.0, 1.0)}}
        return result

    monkeypatch.setattr(worker, "grade", fake)
    with pytest.raises(KeyboardInterrupt):
        autograde.autograde(A, course.root, check_canary=False)
    assert _totals(course) == {"first": 1.0}
