"""Parallel autograding (``python -m course.grading autograde --workers N``) under attack.

A submission that rewrites the scratch template every submission's course is copied from
(replacing each hidden test by ``pass``, with a valid checksum) would give every student graded
after it full marks. The tripwire covers the template: sequentially, it is restored before the
next student; in parallel, the batch is graded again one at a time. Either way the honest
students get exactly their own scores and the attacker is named.
"""

import copy
import sqlite3
import tempfile

import nbformat
import pytest

from course import classroom
from course.grading import autograde, runner

A = "ps1_moments"
NB = "moments.ipynb"

TEMPLATE_ATTACK = """
import copy, glob, os, sqlite3, tempfile
import nbformat
from nbgrader.utils import compute_checksum
mine = nbformat.read("moments.ipynb", 4)
for db in glob.glob(os.path.join(tempfile.gettempdir(), "bn-template-*", "course", "gradebook.db")):
    con = sqlite3.connect(db)
    for cell in mine.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            fake = copy.deepcopy(cell)
            fake.source = "pass"
            con.execute(
                "UPDATE source_cell SET source = 'pass', checksum = ? WHERE name = ?",
                (compute_checksum(fake), meta["grade_id"]),
            )
    con.commit()
    print("patched", db)
"""


@pytest.mark.grading
@pytest.mark.parametrize("workers", [1, 2])
def test_template_attack_is_undone_and_named(tmp_path, workers, monkeypatch):
    # a private temporary folder, so the attack cannot reach other grading runs' templates
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.setenv("TMPDIR", str(private))
    root, exchange, kinds = classroom.make_class(tmp_path, A, 2)
    assert kinds == {"s000": "correct", "s001": "blank"}
    release = nbformat.read(root / "exercises" / A / NB, 4)
    evil = copy.deepcopy(release)
    evil.cells.insert(1, nbformat.v4.new_code_cell(TEMPLATE_ATTACK))
    draft = tmp_path / "drafts" / "evil"
    draft.mkdir(parents=True)
    nbformat.write(evil, draft / NB)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        gb.update_or_create_student("a_mallory")  # sorted first: graded before the others
    classroom.submit(exchange, "a_mallory", A, draft)
    runner.run_nbgrader(root, "collect", A, f"--Exchange.root={exchange}", timeout=600)

    results = {r.student: r for r in autograde.autograde(A, root, timeout=600, workers=workers)}

    assert list(results) == ["a_mallory", "s000", "s001"]
    assert {s: r.total for s, r in results.items()} == {"a_mallory": 0, "s000": 16, "s001": 0}
    assert any("bn-template-" in i for i in results["a_mallory"].incidents)
    assert results["s000"].incidents == [] and results["s001"].incidents == []
    graded = (root / "autograded" / "a_mallory" / A / NB).read_text()
    assert f"patched {private}" in graded  # the attack did run, on this test's template
    con = sqlite3.connect(root / "gradebook.db")
    totals = dict(
        con.execute(
            "SELECT student.id, SUM(grade.auto_score) FROM grade"
            " JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id"
            " JOIN submitted_assignment ON submitted_notebook.assignment_id"
            " = submitted_assignment.id"
            " JOIN student ON submitted_assignment.student_id = student.id GROUP BY student.id"
        ).fetchall()
    )
    con.close()
    assert totals == {"a_mallory": 0, "s000": 16, "s001": 0}
