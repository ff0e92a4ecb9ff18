"""One whole instructor round, end to end (marked ``grading``): problem set 3 released through a
local filesystem exchange, four simulated students (correct, blank, partial, malicious) fetch and
submit, the instructor collects, autogrades, generates and releases feedback and exports grades.
"""

import csv
import sqlite3
import subprocess

import nbformat
import pytest

from course.grading import autograde, runner
from course.layout import REPO_ROOT

SOLUTIONS = REPO_ROOT / "solutions"


A = "ps3_bn_forward"
NB = "bn_forward.ipynb"


def _mallory(release, source, master_db, fill):
    """Correct code for parts A, C, D; a wrong forward pass hidden behind patches of bnlab and
    numpy; a wrong quiz answer behind a redefined helper; a deleted and an edited test cell; an
    endless loop; a huge allocation; and writes to the instructor's gradebook."""
    nb = fill(release, source, {"normalize", "undo", "mean_square", "quiz"})
    attack = """
import sqlite3, glob, os
import bnlab.batchnorm, numpy.testing
try:
    bnlab.batchnorm.forward = lambda x, g, b, eps=1e-5: (x, None)
except AttributeError as e:
    print("blocked:", e)
try:
    np.allclose = lambda *a, **k: True
except AttributeError as e:
    print("blocked:", e)
numpy.testing.assert_allclose = lambda *a, **k: None
"""
    gradebook_attack = f"""
for db in glob.glob("../../../gradebook.db") + [{str(master_db)!r}]:
    con = sqlite3.connect(db)
    con.execute("UPDATE grade SET manual_score = 99")
    con.execute("DELETE FROM student WHERE id = 'alice'")
    con.commit()
"""
    for cell in nb.cells:
        if cell.get("id") == "bn_forward":
            cell.source = "def bn_forward(x, gamma, beta, eps=1e-5):\n    return x.copy()\n"
        if cell.get("id") == "quiz":
            cell.source = (
                "n_learnable = 96\nout_mean = 0.0\nout_var = 1.0\n"
                "def expect_choice(*a, **k):\n    return None\n"
                "def agree(*a, **k):\n    return None\n"
            )
        if cell.get("id") == "test_bn_forward_reference":
            cell.source = "pass"
    nb.cells = [c for c in nb.cells if c.get("id") != "test_normalize_sanity"]
    at = next(i for i, c in enumerate(nb.cells) if c.get("id") == "imports") + 1
    nb.cells[at:at] = [
        nbformat.v4.new_code_cell(attack),
        nbformat.v4.new_code_cell(gradebook_attack),
        nbformat.v4.new_code_cell("big = np.empty(3 * 2**30 // 8)\nbig[:] = 1.0"),
        nbformat.v4.new_code_cell("while True:\n    pass"),
        nbformat.v4.new_code_cell("raise RuntimeError('a cell that raises')"),
    ]
    for c in nb.cells[at : at + 5]:
        c.id = f"mallory-{nb.cells.index(c)}"
    return nb


EXPECTED = {
    "alice": 15.0,  # complete solutions
    "bob": 0.0,  # blank: the student version as released
    "carol": 6.0,  # parts A (3) and D (3) only
    # A 3 + B 0 + C 1 + D 3 + E 1: part C uses her (identity) forward pass, so only the visible
    # undo test passes; worked example 2 and the hidden undo test fail, as they should
    "mallory": 8.0,
}


@pytest.mark.grading
def test_instructor_round_end_to_end(tmp_path, monkeypatch, nbgrader, fill):
    monkeypatch.setenv("BNLAB_CELL_TIMEOUT", "8")
    root = runner.write_config(tmp_path / "course")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    ex = [f"--Exchange.root={exchange}"]
    import shutil

    shutil.copytree(SOLUTIONS / A, root / "solutions" / A)
    nbgrader(root, "generate_assignment", A, "--force")
    nbgrader(root, "release_assignment", A, *ex)
    for s in EXPECTED:
        nbgrader(root, "db", "student", "add", s)

    source = nbformat.read(SOLUTIONS / A / NB, 4)
    release = nbformat.read(root / "exercises" / A / NB, 4)
    notebooks = {
        "alice": fill(release, source, {c.id for c in source.cells}),
        "bob": release,
        "carol": fill(release, source, {"normalize", "mean_square"}),
        "mallory": _mallory(release, source, root / "gradebook.db", fill),
    }
    for s, nb in notebooks.items():
        home = tmp_path / f"home_{s}"
        home.mkdir()
        cache = [f"--Exchange.cache={tmp_path / ('cache_' + s)}"]
        student = ["--CourseDirectory.course_id=bn-course", *ex, *cache]
        subprocess.run(
            [runner.nbgrader_bin(), "fetch_assignment", A, *student],
            cwd=home,
            check=True,
            capture_output=True,
        )
        nbformat.write(nb, home / A / NB)
        subprocess.run(
            [runner.nbgrader_bin(), "submit", A, f"--student={s}", *student],
            cwd=home,
            check=True,
            capture_output=True,
        )
    # one user made every submission here: the course's collect would refuse each as a
    # submission in another's name (tests/test_hub.py checks that refusal with real users)
    nbgrader(root, "collect", A, *ex, "--ExchangeCollect.check_owner=False")
    assert sorted(p.name for p in (root / "submitted").iterdir()) == sorted(EXPECTED)

    results = {r.student: r for r in autograde.autograde(A, root, timeout=600)}
    for s, total in EXPECTED.items():
        assert results[s].total == total, (s, results[s].scores, results[s].incidents)
    graded = (root / "autograded" / "mallory" / A / NB).read_text()
    # the 3 GiB allocation hits the sandbox's bound (on a loaded machine the kernel may thrash
    # at the bound past the cell's time limit first), the endless loop its time limit; the
    # kernel is restarted without those cells and the rest of her notebook is graded
    stopped = ("ran out of memory", "MemoryError")
    assert any(s in graded for s in stopped) or graded.count("no answer within") >= 2
    assert "no answer within" in graded
    assert "no such table" in graded or "unable to open database" in graded  # no gradebook

    # the gradebook holds exactly the scores the notebooks earned, nobody else's were touched
    con = sqlite3.connect(root / "gradebook.db")
    assert (
        con.execute("SELECT count(*) FROM grade WHERE manual_score IS NOT NULL").fetchone()[0] == 0
    )
    assert {r[0] for r in con.execute("SELECT id FROM student")} == set(EXPECTED)
    con.close()

    nbgrader(root, "generate_feedback", A)
    nbgrader(root, "release_feedback", A, *ex)
    home = tmp_path / "home_mallory"
    subprocess.run(
        [
            runner.nbgrader_bin(),
            "fetch_feedback",
            A,
            "--student=mallory",
            "--CourseDirectory.course_id=bn-course",
            *ex,
            f"--Exchange.cache={tmp_path / 'cache_mallory'}",
        ],
        cwd=home,
        check=True,
        capture_output=True,
    )
    html = "\n".join(p.read_text() for p in (home / A / "feedback").rglob("*.html"))
    assert html, "no feedback fetched"
    for secret in ["hidden_rng(32)", "expect_number(out_var", "BEGIN HIDDEN TESTS"]:
        assert secret not in html

    nbgrader(root, "export", f"--to={tmp_path / 'grades.csv'}")
    with open(tmp_path / "grades.csv") as f:
        rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    assert rows == EXPECTED
