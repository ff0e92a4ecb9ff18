"""The exercises and the grading pipeline, end to end.

Fast tests (no kernel): the referee, the channel's plain values, feedback scrubbing, leak
detection, the tamper scan, the tripwire. Tests marked ``grading`` start kernels: validation of
every source and student notebook, drift of exercises/, and one whole instructor round on problem
set 3 with a local filesystem exchange and four simulated students (correct, blank, partial,
malicious). tests/test_grading_trust.py attacks the grader class by class.
"""

import copy
import csv
import os
import sqlite3
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from course.grading import autograde, exercises, feedback, referee, runner, scan, scores, tripwire
from course.layout import REPO_ROOT

SOLUTIONS = REPO_ROOT / "solutions"
EXERCISES = REPO_ROOT / "exercises"
SOURCE_NBS = sorted(SOLUTIONS.glob("*/*.ipynb"))
IDS = [p.parent.name for p in SOURCE_NBS]


def graded_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


# ------------------------------------------------------------------------------ fast checks


class TestNotebookStructure:
    @pytest.mark.parametrize("path", SOURCE_NBS, ids=IDS)
    def test_parts_declare_their_points(self, path):
        """Every '## Part X (N points)' heading equals the points of its graded cells."""
        nb = nbformat.read(path, 4)
        parts = scores.part_of_cells(nb)
        points = {}
        for cell in graded_cells(nb):
            meta = cell.metadata.nbgrader
            points[parts[meta.grade_id]] = points.get(parts[meta.grade_id], 0) + meta.points
        assert len(points) >= 4
        for title, total in points.items():
            declared = int(title.split("(")[1].split()[0])
            assert declared == total, title

    @pytest.mark.parametrize("path", SOURCE_NBS, ids=IDS)
    def test_every_graded_cell_has_hidden_or_visible_test_and_unique_id(self, path):
        nb = nbformat.read(path, 4)
        ids = [c.metadata.nbgrader.grade_id for c in graded_cells(nb)]
        assert len(ids) == len(set(ids))
        assert all(i.startswith("test_") for i in ids)
        assert sum("### BEGIN HIDDEN TESTS" in c.source for c in graded_cells(nb)) >= 4
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")

    @pytest.mark.parametrize("path", SOURCE_NBS, ids=IDS)
    def test_tests_read_from_the_kernel_only_what_answer_cells_define(self, path):
        """A test's free names come from the course's imports (run in the grader) or are names
        an answer cell defines; never data of a provided cell, which the kernel could change
        under the test (its inputs must come from the test itself)."""
        import ast

        from course.grading import judge

        nb = nbformat.read(path, 4)
        imported, answers = judge.prelude(nb), set()
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                for node in ast.walk(ast.parse(cell.source)):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        answers.add(node.id)
                    elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                        answers.add(node.name)
        for cell in graded_cells(nb):
            outside = set(judge.free_names(cell.source)) - set(imported) - answers
            assert not outside, (cell.metadata.nbgrader.grade_id, outside)

    def test_every_seed_problem_is_an_exercise(self):
        """Worked examples 1-3 and practice problems 1-5 of seed 003 all appear."""
        text = "\n".join(
            c.source
            for p in SOURCE_NBS
            for c in nbformat.read(p, 4).cells
            if c.cell_type == "markdown"
        )
        for label in ["worked example 1", "worked example 2", "worked example 3"] + [
            f"practice problem {k}" for k in range(1, 6)
        ]:
            assert label in text.lower(), label


class TestReferee:
    def test_agreeing_function_passes(self):
        rng = np.random.default_rng(0)
        cases = [(rng.normal(size=(7, 3)),), (rng.normal(size=(5,)).astype(np.float32),)]
        referee.agree(lambda x: ((x - x.mean(0)) ** 2).mean(0), "bnlab.moments.var", cases)

    def test_wrong_ddof_and_wrong_dtype_fail(self):
        x = np.random.default_rng(1).normal(size=(6, 2))
        with pytest.raises(AssertionError, match="relative error"):
            referee.agree(lambda x: x.var(0, ddof=1), "bnlab.moments.var", [(x,)])
        with pytest.raises(AssertionError, match="dtype float64, expected float32"):
            referee.agree(
                lambda x: x.astype(np.float64).var(0),
                "bnlab.moments.var",
                [(x.astype(np.float32),)],
            )

    def test_expected_error_must_be_raised(self):
        with pytest.raises(AssertionError, match="expected ValueError"):
            referee.agree(lambda x: x.var(0), "bnlab.moments.var", [((np.ones(3),), {"ddof": 3})])

    def test_output_objects_are_not_unpickled(self, tmp_path):
        """A learner's output whose unpickling would create a file: the file never appears."""
        marker = tmp_path / "unpickled"

        class Evil(np.ndarray):
            def __reduce__(self):
                return (open, (str(marker), "w"))

        x = np.ones((3, 1))
        # an ndarray subclass is converted to a plain array; no pickle crosses the channel
        referee.agree(lambda x: np.zeros(1).view(Evil), "bnlab.moments.var", [(x,)])
        assert not marker.exists()


class TestWire:
    """The channel's plain values: what a kernel sends can only become data or a handle."""

    def _round_trip(self, value):
        from course.grading import wire

        return wire.decode(wire.encode(value, to_handle=lambda v: 7), lambda h, t: ("handle", h, t))

    def test_plain_values_keep_type_dtype_and_shape(self):
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        out = self._round_trip((x, np.float32(1.5), 3, 2.5, "s", None, [True], {"k": 1j}))
        assert out[0].dtype == np.float32 and out[0].shape == (2, 3) and np.array_equal(out[0], x)
        assert type(out[1]) is np.float32 and out[1] == 1.5
        assert out[2:] == (3, 2.5, "s", None, [True], {"k": 1j})

    def test_a_generator_arrives_in_the_same_state(self):
        rng = np.random.default_rng(5)
        rng.random(3)
        copy_ = self._round_trip(rng)
        assert np.array_equal(copy_.random(4), rng.random(4))

    def test_other_objects_stay_behind_as_handles(self):
        assert self._round_trip(object()) == ("handle", 7, "object")
        assert self._round_trip(lambda x: x) == ("handle", 7, "function")

    def test_a_handle_is_no_answer(self):
        """What the kernel could not send is neither true, equal, ordered nor sized."""
        from course.grading import wire

        handle = wire.Remote(None, 1, "Liar")
        for probe in (bool, len, lambda h: h == h, lambda h: h != 0, lambda h: h < 1):
            with pytest.raises(TypeError, match="not a number, string or array"):
                probe(handle)
        with pytest.raises(AssertionError, match="must be numeric|not array-like"):
            referee.agree(lambda x: handle, "bnlab.moments.var", [(np.ones((2, 1)),)])

    def test_a_huge_sympy_expression_is_refused_not_computed(self):
        """Found by a red-team review: sqrt(10**(2*10**8)) hung the whole batch."""
        from course.grading import wire

        bomb = {"$sympy": ["sqrt", ["Pow", ["Integer", "10"], ["Integer", str(2 * 10**8)]]]}
        with pytest.raises(wire.WireError, match="integer larger"):
            wire.decode(bomb, None)
        deep = ["Symbol", "x", {}]
        for _ in range(wire.SYMPY_MAX_NODES + 1):
            deep = ["Add", deep, ["Integer", "1"]]
        with pytest.raises(wire.WireError):
            wire.decode({"$sympy": deep}, None)

    def test_lone_surrogates_from_a_kernel_become_encodable(self):
        import io
        import struct

        from course.grading import wire

        body = b'{"text": "\\ud800"}'
        msg = wire.receive(io.BytesIO(struct.pack(">I", len(body)) + body))
        assert msg["text"].encode("utf-8") == b"?"

    def test_a_learners_subclass_of_the_expected_exception_counts(self):
        from course.grading.session import raised

        exc = raised("ProbabilityError", "bad probs", ["ValueError", "Exception"])
        assert isinstance(exc, ValueError)
        ok = referee.agree  # the reference refuses probabilities that do not sum to 1

        def student(v, p):
            raise exc

        ok(student, "course.grading.references.expectation", [(np.ones(2), np.ones(2))])
        assert type(raised("Oops\n[passed]", "x")).__name__ == "Exception"

    def test_sympy_expressions_are_rebuilt_from_allowed_classes(self):
        import sympy as sp

        x, v = sp.symbols("x v", positive=True)
        expr = -(x - 1) / (2 * (v + 1) ** sp.Rational(3, 2))
        assert sp.simplify(self._round_trip(expr) - expr) == 0
        assert self._round_trip(x).is_positive

    def test_object_arrays_pickles_and_unknown_tags_are_refused(self):
        import base64
        import io

        from course.grading import wire

        buf = io.BytesIO()
        np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        evil = {"$nd": base64.b64encode(buf.getvalue()).decode()}
        with pytest.raises(ValueError):
            wire.decode(evil, None)
        for bad in (
            {"$code": "print(1)"},
            {"$sympy": ["eval", "1"]},
            {"$rng": {"bit_generator": "os"}},
        ):
            with pytest.raises(wire.WireError):
                wire.decode(bad, None)

    def test_oversized_messages_are_refused(self):
        import io
        import struct

        from course.grading import wire

        with pytest.raises(wire.WireError, match="larger than"):
            wire.receive(io.BytesIO(struct.pack(">I", wire.MAX_MESSAGE + 1) + b"{}"))


def test_the_grader_refuses_to_run_without_bnlab(tmp_path):
    """A grading Python without the reference package says so and how to fix it, instead of
    grading every answer wrong (issue 15: the hub's Python without bnlab gave 6/15)."""
    fake = tmp_path / "bnlab"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('bnlab is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "course.grading", "check-sandbox"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "grading refused" in proc.stderr and "cannot import bnlab" in proc.stderr
    assert "make venv" in proc.stderr


class TestExpectChoice:
    def test_right_choice_ignores_case_and_spaces(self):
        assert referee.expect_choice(" b ", "B") is None

    def test_wrong_choice_fails(self):
        with pytest.raises(AssertionError, match="'A' is not the right choice"):
            referee.expect_choice("A", "B")

    def test_string_subclass_cannot_fake_equality(self):
        class Liar(str):
            def __eq__(self, other):
                return True

        with pytest.raises(AssertionError, match="must be a string"):
            referee.expect_choice(Liar("A"), "B")


class TestExpectNumber:
    def test_right_number_passes(self):
        assert referee.expect_number(0.5, 0.5) is None

    def test_wrong_number_fails(self):
        with pytest.raises(AssertionError, match="0.25 is not right"):
            referee.expect_number(0.25, 0.5)

    def test_non_number_fails(self):
        with pytest.raises(AssertionError, match="must be a number, got str"):
            referee.expect_number("0.5", 0.5)


class TestFeedbackAndLeaks:
    def test_strip_hidden(self):
        src = "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nsecret = 42\n### END HIDDEN TESTS\nok()"
        out = feedback.strip_hidden(src)
        assert "secret" not in out and "assert f(1) == 1" in out and "ok()" in out

    def test_leak_detected(self):
        src = nbformat.read(SOLUTIONS / "ps3_bn_forward" / "bn_forward.ipynb", 4)
        ex = nbformat.read(EXERCISES / "ps3_bn_forward" / "bn_forward.ipynb", 4)
        assert exercises.leaks(ex, src) == []
        leaked = copy.deepcopy(ex)
        cell = next(c for c in leaked.cells if c.get("id") == "mean_square")
        cell.source = cell.source.replace("raise NotImplementedError()", "return var / (var + eps)")
        assert any("protected line" in m for m in exercises.leaks(leaked, src))

    def test_scan_flags_tampering_not_honest_answers(self, tmp_path):
        nb = nbformat.read(SOLUTIONS / "ps1_moments" / "moments.ipynb", 4)
        path = tmp_path / "honest.ipynb"
        nbformat.write(nb, path)
        assert scan.scan_notebook(path) == []
        nb.cells.insert(2, nbformat.v4.new_code_cell("import bnlab\nnp.allclose = lambda *a: True"))
        nbformat.write(nb, path)
        found = " ".join(m for _, m in scan.scan_notebook(path))
        assert "reference package" in found and "assigns an attribute" in found

    def test_tripwire_restores(self, tmp_path):
        (tmp_path / "d").mkdir()
        f = tmp_path / "d" / "a.txt"
        f.write_text("trusted")
        wire = tripwire.Tripwire([tmp_path / "d"])
        f.write_text("changed")
        (tmp_path / "d" / "b.txt").write_text("planted")
        changed = wire.restore()
        assert len(changed) == 2 and f.read_text() == "trusted"
        assert not (tmp_path / "d" / "b.txt").exists()


# ------------------------------------------------------------------------- kernels (slower)


def nbgrader(root, *args, check=True):
    return runner.run_nbgrader(root, *args, check=check, timeout=900)


@pytest.mark.grading
def test_exercises_are_generated_and_leak_nothing():
    assert exercises.check() == []


@pytest.mark.grading
@pytest.mark.parametrize("path", SOURCE_NBS, ids=IDS)
def test_source_passes_and_student_version_fails_every_test(path, tmp_path):
    """nbgrader validate on the solution, and validate --invert on the student version."""
    root = runner.write_config(tmp_path / "course")
    out = nbgrader(root, "validate", str(path)).stdout
    assert "Success! Your notebook passes all the tests." in out, out[-2000:]
    release = EXERCISES / path.relative_to(SOLUTIONS)
    out = nbgrader(root, "validate", "--invert", str(release)).stdout
    assert "Success! The notebook does not pass any tests." in out, out[-2000:]


# ---- the simulated class for problem set 3 (15 points)

A = "ps3_bn_forward"
NB = "bn_forward.ipynb"


def _fill(release, source, ids):
    """The release notebook with the solution cells `ids` copied from the source."""
    nb = copy.deepcopy(release)
    sols = {c.id: c.source for c in source.cells}
    for cell in nb.cells:
        if cell.get("id") in ids:
            cell.source = sols[cell.id]
    return nb


def _mallory(release, source, master_db):
    """Correct code for parts A, C, D; a wrong forward pass hidden behind patches of bnlab and
    numpy; a wrong quiz answer behind a redefined helper; a deleted and an edited test cell; an
    endless loop; a huge allocation; and writes to the instructor's gradebook."""
    nb = _fill(release, source, {"normalize", "undo", "mean_square", "quiz"})
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
def test_instructor_round_end_to_end(tmp_path, monkeypatch):
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
        "alice": _fill(release, source, {c.id for c in source.cells}),
        "bob": release,
        "carol": _fill(release, source, {"normalize", "mean_square"}),
        "mallory": _mallory(release, source, root / "gradebook.db"),
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


@pytest.mark.grading
def test_selfgrade_prints_score_per_part(tmp_path):
    nb = nbformat.read(EXERCISES / "ps1_moments" / "moments.ipynb", 4)
    src = nbformat.read(SOLUTIONS / "ps1_moments" / "moments.ipynb", 4)
    nbformat.write(_fill(nb, src, {"expectation", "two_pass_var"}), tmp_path / "moments.ipynb")
    out = subprocess.run(
        [sys.executable, "-m", "course.grading", "selfgrade", str(tmp_path / "moments.ipynb")],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "2.0 /  2.0  moments: Part A" in out and "4.0 /  4.0  moments: Part B" in out
    assert "0.0 /  3.0  moments: Part C" in out and "6.0 / 16.0  total" in out
