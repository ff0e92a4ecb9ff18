"""Grading a class that attacks the grader, and a class that makes honest mistakes.

One batch of submissions of problem set 1 (16 points) is graded through the real pipeline
(``course.grading.autograde``: sandboxed kernels, tests judged in the trusted process), two at
a time. Every submission must get exactly the points its answers earn, and nothing else may
change: not the other students' scores or files, not the gradebook beyond the student's own
rows, not the environment, the configuration, the package or the solutions; no feedback may
carry a hidden test. Each class of attack found in the review of issue 13 is one test.
"""

import copy
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

import bnlab
from course import classroom
from course.grading import autograde, runner, sandbox
from course.layout import REPO_ROOT, CourseDir

pytestmark = pytest.mark.grading

A, NB, FULL = "ps1_moments", "moments.ipynb", 16.0
SOURCE = REPO_ROOT / "solutions" / A
RELEASE = REPO_ROOT / "exercises" / A


#: every student graded in the hostile batch (the honest one is graded before it)
def _others():
    return sorted(set(SUBMISSIONS) - {"honest"}) + ["broken_file", "linked", "renamed_file"]


def _hidden_lines(secrets_of):
    """Every secret line of the source's hidden tests by the tests' own oracle (conftest.py,
    written independently of the grading code), but comments and imports."""
    found = secrets_of(SOURCE / NB, kinds={"HIDDEN TESTS"})
    lines = [s for s in found if not s.startswith(("#", "from ", "import "))]
    assert len(lines) > 20
    return lines


def _answered(kind="correct"):
    """The release notebook with every answer cell filled from the source (or none)."""
    release, source = nbformat.read(RELEASE / NB, 4), nbformat.read(SOURCE / NB, 4)
    return classroom.submission(release, source, kind)


def _with_cells(nb, *sources, at=None):
    nb = copy.deepcopy(nb)
    new = [nbformat.v4.new_code_cell(s) for s in sources]
    if at is None:
        at = 1 + next(i for i, c in enumerate(nb.cells) if c.get("id") == "imports")
    nb.cells[at:at] = new
    return nb


def _cell_index(nb, cell_id):
    return next(i for i, c in enumerate(nb.cells) if c.get("id") == cell_id)


VANDAL = """
import glob, os, sys
targets = {{
    "other": {other!r}, "config": {config!r}, "bnlab": {bnlab!r}, "gradebook": {gradebook!r},
    "pth": os.path.join(sys.prefix, "lib", "python3.11", "site-packages", "zz_evil.pth"),
}}
for name, path in targets.items():
    try:
        with open(path, "a") as f:
            f.write("import os; os.environ['PWNED'] = '1'\\n")
        print("wrote", name)
    except OSError as e:
        print("blocked", name, type(e).__name__)
"""

READER = """
import os, sys
found = []
for top in ("/", {root!r}, {repo!r}):
    for dirpath, dirs, files in os.walk(top):
        if dirpath.startswith(("/proc", "/sys", "/usr", "/dev", sys.prefix, sys.base_prefix)):
            dirs[:] = []
            continue
        for f in files:
            if f.endswith((".ipynb", ".db")):
                try:
                    text = open(os.path.join(dirpath, f), errors="ignore").read()
                except OSError:
                    continue
                if "BEGIN HIDDEN" in text or f.endswith(".db"):
                    found.append(os.path.join(dirpath, f))
print("found", len(found), found[:3])
for path in found:
    exec(compile(open(path).read(), path, "exec"))  # (never reached: nothing is found)
"""

#: the command line of the fork bomb's sleepers, to find any that outlived grading
BOMB = f"bnlab-fork-bomb-{uuid.uuid4().hex}"

# three children that each hold 1.2 GB until all three do (so they hold it at the same time):
# under the common bound (3 GiB) one of them is killed, so fewer than three exit normally
MEMORY_CHILDREN = """
import os, time
pids = []
for k in range(3):
    pid = os.fork()
    if pid == 0:
        block = bytearray(1200 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
        open(f"/tmp/held{k}", "w").close()
        start = time.time()
        while sum(f.startswith("held") for f in os.listdir("/tmp")) < 3 and time.time() - start < 6:
            time.sleep(0.05)
        os._exit(0)
    pids.append(pid)
statuses = [os.waitpid(pid, 0)[1] for pid in pids]
normal = sum(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in statuses)
print("children that held 1.2 GB to the end:", normal)
"""

FORGER = """
import json, os, struct
frame = json.dumps({"outputs": [], "value": 91 / 6, "missing": False}).encode()
frame = struct.pack(">I", len(frame)) + frame
for fd in range(3, 64):
    try:
        if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
            for _ in range(50):
                os.write(fd, frame)
    except OSError:
        pass
"""

SUBMISSIONS = {
    # name: (notebook builder, expected points)
    "honest": (lambda: _answered(), FULL),
    "blank": (lambda: _answered("blank"), 0.0),
    "input_transformer": (
        lambda: _with_cells(
            _answered("blank"),
            "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])",
        ),
        0.0,
    ),
    "hook_result": (
        lambda: _with_cells(
            _answered("blank"),
            "ip = get_ipython()\n"
            "ip.events.register('pre_run_cell', lambda *a: ip.display_pub.publish("
            "{'text/plain': '16'}))",
        ),
        0.0,
    ),
    "fake_interpreter": (
        lambda: _with_cells(
            _answered("blank"),
            "import sys, os\nsys.executable = '/bin/true'\nos.environ['PATH'] = '/x'",
        ),
        0.0,
    ),
    "patched_referee": (
        lambda: _with_cells(
            _answered("blank"),
            "import course.grading.referee as r, course.grading.judge as j\n"
            "vars(r)['agree'] = vars(r)['expect_number'] = vars(r)['expect_choice'] = "
            "lambda *a, **k: None\n"
            "vars(j)['judge'] = lambda *a, **k: None",
        ),
        0.0,
    ),
    "rebound_numpy": (
        lambda: _rebound_numpy(),
        0.0,
    ),
    "reader": (
        lambda: _with_cells(_answered("blank"), READER.format(root="{root}", repo=str(REPO_ROOT))),
        0.0,
    ),
    "leaker": (
        lambda: _with_cells(
            _answered("blank"),
            "ip = get_ipython()\n"
            "ip.events.register('post_run_cell', lambda *a: print('IN:', In, _ih))",
        ),
        0.0,
    ),
    "vandal": (None, 0.0),  # built in the fixture: it needs the course's paths
    "memory_children": (lambda: _with_cells(_answered(), MEMORY_CHILDREN), FULL),
    "fork_bomb": (
        lambda: _with_cells(
            _answered(),
            "import os, sys\n"
            "n = 0\n"
            "try:\n"
            "    while n < 10000:\n"
            "        if os.fork() == 0:\n"
            "            sleeper = 'import time; time.sleep(3600)'\n"
            f"            os.execv(sys.executable, [sys.executable, '-c', sleeper, {BOMB!r}])\n"
            "        n += 1\n"
            "except OSError as e:\n"
            "    print('fork refused after', n, type(e).__name__)",
            at=len(_answered().cells),  # last: a kernel without free PIDs cannot start threads
        ),
        FULL,
    ),
    "copied_and_moved_tests": (lambda: _copied_and_moved(), FULL),
    "swallows_interrupts": (
        lambda: _with_cells(
            _answered(),
            "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
            "    except BaseException:\n        pass",
            at=_cell_index(_answered(), "welford"),
        ),
        FULL,
    ),
    "crash_in_middle": (
        lambda: _with_cells(
            _answered(),
            "import os\nos.kill(os.getpid(), 9)",
            at=_cell_index(_answered(), "welford"),
        ),
        FULL,
    ),
    "crash_in_last_cell": (
        lambda: _with_cells(_answered(), "import os\nos._exit(1)", at=len(_answered().cells)),
        FULL,
    ),
    "warnings_and_stderr": (lambda: _warner(), FULL),
    "deleted_imports_cell": (
        lambda: _deleted(_answered(), "imports"),
        FULL,
    ),
    "helper_in_own_cell": (lambda: _helper_cell(), FULL),
    "script_in_markdown": (lambda: _script_markdown(), FULL),
    "forged_channel": (lambda: _with_cells(_answered("blank"), FORGER), 0.0),
    "matplotlib_magic": (lambda: _matplotlib_magic(), FULL),
    "metadata_stripped": (lambda: _stripped(), FULL),
    "floods_output": (
        lambda: _with_cells(_answered(), "for _ in range(200):\n    print('x' * 500_000)"),
        FULL,
    ),
}


def _matplotlib_magic():
    """Answer cells that start with `%matplotlib inline` and draw, as notebooks often do."""
    nb = _answered()
    cell = nb.cells[_cell_index(nb, "expectation")]
    cell.source = (
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n"
        + cell.source
    )
    return nb


def _stripped():
    """Saved by a tool that keeps neither nbgrader's metadata nor cell ids (nbformat 4.4)."""
    nb = _answered()
    for cell in nb.cells:
        cell.metadata = {}
        cell.pop("id", None)
    nb.nbformat_minor = 4
    return nb


def _script_markdown():
    """Markdown of the learner's own, with a script: feedback is rendered to HTML that the
    instructor may open too."""
    nb = _answered()
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("<script>alert('pwned')</script>"))
    nb.cells[0].source += "\n<img src=x onerror=alert('pwned')>"
    return nb


def _rebound_numpy():
    nb = _answered("blank")
    cell = nb.cells[_cell_index(nb, "imports")]
    cell.source = (
        "import numpy\n"
        "class _Yes:\n"
        "    def __getattr__(self, name):\n"
        "        return lambda *a, **k: True\n"
        "np = _Yes()\n"
        "def expectation(v, p):\n"
        "    return np.dot(v, p)\n"
    )
    return nb


def _copied_and_moved():
    nb = _answered()
    i = _cell_index(nb, "test_two_pass_var_random")
    copy_cell = copy.deepcopy(nb.cells[i])
    copy_cell["id"] = "my-copy"
    copy_cell.source = "pass  # my copy of the test"
    nb.cells.insert(i + 1, copy_cell)
    # move a test above the answer it tests
    j = _cell_index(nb, "test_welford_small")
    moved = nb.cells.pop(j)
    nb.cells.insert(_cell_index(nb, "welford"), moved)
    return nb


def _warner():
    nb = _answered()
    cell = nb.cells[_cell_index(nb, "two_pass_var")]
    cell.source = cell.source.replace(
        '    """Variance',
        '    import warnings, sys\n    warnings.warn("slow path")\n'
        '    print("debug", file=sys.stderr)\n    """Variance',
        1,
    )
    assert "warnings.warn" in cell.source
    return nb


def _deleted(nb, cell_id):
    nb = copy.deepcopy(nb)
    del nb.cells[_cell_index(nb, cell_id)]
    return nb


def _helper_cell():
    """The answer of two_pass_var calls a helper the learner defined in a cell of their own,
    placed after the answer cell."""
    nb = _answered()
    i = _cell_index(nb, "two_pass_var")
    nb.cells[i].source = "def two_pass_var(x, ddof=0):\n    return _my_var(x, ddof)\n"
    helper = nbformat.v4.new_code_cell(
        "def _my_var(x, ddof=0):\n"
        "    n = x.shape[0]\n"
        "    if ddof >= n:\n"
        "        raise ValueError('ddof too large')\n"
        "    d = x - x.sum(axis=0) / x.dtype.type(n)\n"
        "    return ((d * d).sum(axis=0) / x.dtype.type(n - ddof)).astype(x.dtype)\n"
    )
    nb.cells.insert(i + 1, helper)
    return nb


def _tree_digest(path):
    h = hashlib.sha256()
    for f in sorted(Path(path).rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(str(f).encode() + f.read_bytes())
    return h.hexdigest()


def _site_packages_names():
    site = Path(sys.prefix) / "lib" / "python3.11" / "site-packages"
    return sorted(p.name for p in site.iterdir())


def _rows_not_of(db, students):
    """Every row of every table of the gradebook, except the rows of `students`."""
    con = sqlite3.connect(db)
    ids = set(students)
    subs = {
        r[0] for r in con.execute("SELECT id, student_id FROM submitted_assignment") if r[1] in ids
    }
    nbs = {
        r[0]
        for r in con.execute("SELECT id, assignment_id FROM submitted_notebook")
        if r[1] in subs
    }
    mine = ids | subs | nbs
    out = {}
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        rows = con.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - sqlite_master
        out[table] = sorted((r for r in rows if not mine & set(r)), key=repr)
    con.close()
    return out


def _submit(course, student, nb_or_text):
    folder = course.submitted(student, A)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_text, str):
        (folder / NB).write_text(nb_or_text)
    else:
        nbformat.write(nb_or_text, folder / NB)
    (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded: (results by student, course, what was measured before)."""
    tmp = tmp_path_factory.mktemp("trust")
    # an endless cell costs this; honest cells take < 1 s, three children touching 3.6 GB
    # under one CPU a few seconds (more on a loaded machine)
    os.environ["BNLAB_CELL_TIMEOUT"] = "30"
    course = CourseDir(runner.write_config(tmp / "course"))
    import shutil

    shutil.copytree(SOURCE, course.source / A)
    _submit(course, "honest", _answered())
    honest_only = autograde.autograde(A, course.root, students=["honest"])
    assert honest_only[0].total == FULL
    before = {
        "rows": _rows_not_of(course.gradebook, _others()),
        "honest_files": _tree_digest(course.submitted("honest", A)),
        "config": course.config.read_bytes(),
        "bnlab": _tree_digest(Path(bnlab.__file__).parent),
        "solutions": _tree_digest(REPO_ROOT / "solutions"),
        "site": _site_packages_names(),
        "environ": dict(os.environ),
    }
    other = course.submitted("honest", A) / NB
    vandal = _with_cells(
        _answered("blank"),
        VANDAL.format(
            other=str(other),
            config=str(course.config),
            bnlab=str(Path(bnlab.__file__)),
            gradebook=str(course.gradebook),
        ),
    )
    for student, (build, _) in SUBMISSIONS.items():
        if student == "honest":
            continue
        nb = vandal if student == "vandal" else build()
        if student == "reader":
            for cell in nb.cells:
                cell.source = cell.source.replace("{root}", str(course.root))
        _submit(course, student, nb)
    _submit(course, "broken_file", '{"cells": [oops')
    _submit(course, "renamed_file", _answered())
    renamed = course.submitted("renamed_file", A)
    (renamed / NB).rename(renamed / "moments (1).ipynb")
    _submit(course, "linked", _answered("blank"))
    linked = course.submitted("linked", A) / NB
    linked.unlink()
    linked.symlink_to(course.source / A / NB)  # the instructor's own solution
    results = autograde.autograde(A, course.root, students=_others(), workers=2)
    os.environ.pop("BNLAB_CELL_TIMEOUT")
    return {r.student: r for r in results} | {"honest": honest_only[0]}, course, before


@pytest.mark.parametrize("student", sorted(SUBMISSIONS))
def test_each_submission_gets_exactly_what_it_earned(graded, student):
    results, course, _ = graded
    r = results[student]
    assert r.total == SUBMISSIONS[student][1], (student, r.messages, r.incidents)


def test_a_broken_file_scores_zero_and_says_why(graded):
    r = graded[0]["broken_file"]
    assert r.total == 0 and any("could not be read" in i for i in r.incidents)


def test_a_notebook_saved_under_another_name_is_graded(graded):
    r = graded[0]["renamed_file"]
    assert r.total == FULL and any("graded moments (1).ipynb" in i for i in r.incidents)


def test_a_link_to_the_solution_is_not_a_submission(graded):
    r = graded[0]["linked"]
    assert r.total == 0 and any("not a regular file" in i for i in r.incidents)


def test_feedback_keeps_no_script_and_a_bounded_output(graded):
    course = graded[1]
    text = (course.autograded("script_in_markdown", A) / NB).read_text()
    assert "pwned" not in text
    flooded = course.autograded("floods_output", A) / NB
    assert flooded.stat().st_size < 12 * 2**20


def test_the_gradebook_changes_only_in_the_graded_students_rows(graded):
    results, course, before = graded
    assert _rows_not_of(course.gradebook, _others()) == before["rows"]
    con = sqlite3.connect(course.gradebook)
    totals = dict(
        con.execute(
            "SELECT student.id, SUM(grade.auto_score) FROM grade"
            " JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id"
            " JOIN submitted_assignment ON submitted_notebook.assignment_id"
            " = submitted_assignment.id"
            " JOIN student ON submitted_assignment.student_id = student.id GROUP BY student.id"
        ).fetchall()
    )
    manual = con.execute("SELECT count(*) FROM grade WHERE manual_score IS NOT NULL").fetchone()[0]
    con.close()
    assert manual == 0
    assert totals == {s: r.total for s, r in results.items()}


def test_nothing_outside_the_sandbox_changed(graded):
    results, course, before = graded
    assert _tree_digest(course.submitted("honest", A)) == before["honest_files"]
    assert course.config.read_bytes() == before["config"]
    assert _tree_digest(Path(bnlab.__file__).parent) == before["bnlab"]
    assert _tree_digest(REPO_ROOT / "solutions") == before["solutions"]
    assert _site_packages_names() == before["site"]
    ours = ("BNLAB_CELL_TIMEOUT", "PYTEST_CURRENT_TEST")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    assert env == {k: v for k, v in before["environ"].items() if k not in ours}
    out = (course.autograded("vandal", A) / NB).read_text()
    for target in ("other", "config", "bnlab", "gradebook", "pth"):
        assert f"blocked {target}" in out, target


def test_the_kernel_sees_no_solution_and_no_gradebook(graded):
    out = (graded[1].autograded("reader", A) / NB).read_text()
    assert "found 0 []" in out


def test_memory_is_bounded_for_the_kernel_and_its_children_together(graded):
    out = (graded[1].autograded("memory_children", A) / NB).read_text()
    held = int(out.split("children that held 1.2 GB to the end: ")[1][0])
    if sandbox.probe() == "cgroup":
        assert held < 3  # 3.6 GB together is more than the bound (3 GiB)


def test_no_process_outlives_grading(graded):
    # the bomb ran after hidden tests: its output is withheld from the feedback (the bound
    # itself is checked in tests/grading/test_sandbox.py); the incidents say nothing was lost
    nb = json.loads((graded[1].autograded("fork_bomb", A) / NB).read_text())
    shown = "".join("".join(o.get("text", "")) for o in nb["cells"][-1]["outputs"])
    assert "fork refused after" not in shown and "output not shown" in shown, shown
    # its sleepers ran as `python -c ... BOMB` (other tests' kernels may be running meanwhile)
    left = subprocess.run(["pgrep", "-f", BOMB], capture_output=True)
    assert left.stdout == b"", left.stdout


def test_feedback_carries_no_hidden_test(graded, secrets_of):
    results, course, _ = graded
    runner.run_nbgrader(course.root, "generate_feedback", A, timeout=900)
    html = {p.parent.parent.name: p.read_text() for p in (course.root / "feedback").rglob("*.html")}
    assert set(html) >= set(results) - {"broken_file", "linked"}
    assert "[failed" not in html["matplotlib_magic"]
    hidden = _hidden_lines(secrets_of)
    for student, text in html.items():
        leaked = [line for line in hidden if line in text]
        assert leaked == [], (student, leaked[:3])
    # the judge's messages reach the learner
    assert "points]" in html["blank"] and "NotImplementedError" in html["blank"]


def test_honest_mistakes_are_explained(graded):
    results = graded[0]
    assert any("copy of test" in i for i in results["copied_and_moved_tests"].incidents)
    assert any("no answer within" in i for i in results["swallows_interrupts"].incidents)
    assert any("killed by signal SIGKILL" in i for i in results["crash_in_middle"].incidents)
    assert any("missing and was put back" in i for i in results["deleted_imports_cell"].incidents)


# ---------------------------------------------------------------- refusing to be wrong


def test_grading_refuses_without_the_sandbox_unless_told(tmp_path, monkeypatch):
    course = CourseDir(runner.write_config(tmp_path / "course"))
    import shutil

    shutil.copytree(SOURCE, course.source / A)
    _submit(course, "honest", _answered())
    monkeypatch.setattr(sandbox, "BWRAP", "bwrap-is-not-installed")
    sandbox.probe.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap is not installed"):
            autograde.autograde(A, course.root)
        cli = [sys.executable, "-m", "course.grading", "autograde", A, "--root", str(course.root)]
        env = dict(os.environ, PATH="/nonexistent")  # no bwrap on PATH
        proc = subprocess.run(cli, capture_output=True, text=True, env=env)
        assert proc.returncode == 2 and "grading refused" in proc.stderr, proc.stderr
        assert "--no-sandbox" in proc.stderr
        assert not course.autograded("honest", A).exists()
        # with the explicit flag it grades, and still scores from the judge
        results = autograde.autograde(A, course.root, sandboxed=False)
        assert results[0].total == FULL
    finally:
        sandbox.probe.cache_clear()


def test_a_broken_grading_environment_grades_nobody(tmp_path):
    """The canary: if the reference solution does not score full marks here (a reference that
    cannot be imported, a broken environment), autograde stops before any student."""
    course = CourseDir(runner.write_config(tmp_path / "course"))
    import shutil

    shutil.copytree(SOURCE, course.source / A)
    src = nbformat.read(course.source / A / NB, 4)
    for cell in src.cells:
        if 'bnlab.moments.var"' in cell.source:
            cell.source = cell.source.replace('"bnlab.moments.var"', '"bnlab.moments.no_such_var"')
    nbformat.write(src, course.source / A / NB)
    _submit(course, "honest", _answered())
    with pytest.raises(autograde.GradingEnvironmentError, match="scores .* so no submission"):
        autograde.autograde(A, course.root)
    con = sqlite3.connect(course.gradebook)
    assert con.execute("SELECT count(*) FROM submitted_assignment").fetchone()[0] == 0
    con.close()


def test_nbgrader_autograde_itself_is_refused(tmp_path):
    course = CourseDir(runner.write_config(tmp_path / "course"))
    import shutil

    shutil.copytree(SOURCE, course.source / A)
    _submit(course, "honest", _answered())
    runner.run_nbgrader(course.root, "generate_assignment", A, "--force", timeout=600)
    proc = runner.run_nbgrader(course.root, "autograde", A, check=False, timeout=600)
    assert proc.returncode != 0 and "python -m course.grading autograde" in proc.stdout
