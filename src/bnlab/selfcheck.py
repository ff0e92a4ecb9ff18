"""Check your own problem-set notebook with its visible tests, in any copy of the course.

In a terminal (your computer, Binder, a class hub)::

    python -m bnlab.selfcheck bn_forward.ipynb

or in a notebook cell (Colab included; without a path it checks the notebook it runs in, as last
saved)::

    from bnlab.selfcheck import check
    check("bn_forward.ipynb")

The notebook runs from top to bottom in a fresh Python process, as *Restart Kernel and Run All*
would, with the visible tests of this copy of the course in place of the test cells (whatever
became of them in your notebook). The report says, part by part, which tests passed, which
failed and why (the messages of :mod:`bnlab.check`), which parts you have not attempted yet,
and the points of the tests that are visible in full. The hidden tests, which decide the grade,
are not in the student release: your instructor runs them on your submission (in the
instructor's repository, ``--hidden`` runs them too, by ``python -m course.grading selfgrade``).

The problem set is recognized by the stamp in the notebook's own metadata (``bnlab``: problem
set, notebook, and a digest of its tests), never by the file's name, so a renamed copy works. The
tests of every problem set come with the package (``problem_sets.json``, written by ``make
exercises``), so a notebook from an older release, of another course, or an unreadable file is
answered with one line that says so.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

REGISTRY = "problem_sets.json"
STAMP = "bnlab"
CHILD_ENV = "BNLAB_SELFCHECK_CHILD"
_PART = re.compile(r"^##\s+(Part\s+\w+.*)$", re.M)
_POINTS = re.compile(r"\((\d+(?:\.\d+)?) points?\)")
HIDDEN_NOTE = (
    "The hidden tests decide your grade ({hidden:g} of the {total:g} points are theirs alone): "
    "they compare your functions with the reference on other inputs, so passing every visible test "
    "is not full marks."
)


class NotChecked(Exception):
    """The notebook cannot be checked; the message is one line that says why."""


# ---------------------------------------------------------------- the registry and the stamp


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _nbgrader(cell):
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def registry_entry(nb, problem_set, notebook, hidden_ids=()):
    """The registry entry of a released (student) notebook `nb`, a dict read from its JSON.

    `hidden_ids` are the grade ids of the test cells that also hold hidden tests (known only
    to the instructor's repository, which writes the registry).
    """
    cells = nb["cells"]
    title = next(
        (
            _source(c).strip().lstrip("# ").splitlines()[0]
            for c in cells
            if c.get("cell_type") == "markdown" and _source(c).lstrip().startswith("# ")
        ),
        notebook,
    )
    parts, current = [], None
    for cell in cells:
        heading = _PART.search(_source(cell)) if cell.get("cell_type") == "markdown" else None
        if heading:
            points = _POINTS.search(heading.group(1))
            current = {
                "title": heading.group(1).strip(),
                "answers": [],
                "tests": [],
                "points": float(points.group(1)) if points else 0.0,
            }
            parts.append(current)
        nbg = _nbgrader(cell)
        if current is None or cell.get("cell_type") != "code" or "grade_id" not in nbg:
            continue
        if nbg.get("grade"):
            current["tests"].append(
                {
                    "grade_id": nbg["grade_id"],
                    "source": _source(cell),
                    "points": float(nbg.get("points", 0)),
                    "hidden": nbg["grade_id"] in hidden_ids,
                }
            )
        elif nbg.get("solution"):
            current["answers"].append(nbg["grade_id"])
    entry = {"problem_set": problem_set, "notebook": notebook, "title": title, "parts": parts}
    entry["digest"] = digest(entry)
    return entry


def digest(entry):
    """A digest of what a notebook's tests are: its parts, answers and tests."""
    text = json.dumps(entry["parts"], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stamp(nb, entry):
    """Write the stamp of `entry` into the metadata of the notebook `nb` (a dict)."""
    nb.setdefault("metadata", {})[STAMP] = {
        "problem_set": entry["problem_set"],
        "notebook": entry["notebook"],
        "digest": entry["digest"],
    }


def key(problem_set, notebook):
    return f"{problem_set}/{notebook}"


def load_registry():
    """``{"ps/notebook": entry}`` of the problem sets this copy of the course has."""
    try:
        text = resources.files("bnlab").joinpath(REGISTRY).read_text()
    except FileNotFoundError:
        return {}
    return json.loads(text)


# ---------------------------------------------------------------- reading and identifying


def read_notebook(path):
    """The notebook at `path` as a dict, or :class:`NotChecked` saying why it is not one."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise NotChecked(f"{name}: no such file ({path})")
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotChecked(
            f"{name} is not a readable notebook ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotChecked(f"{name} is not a Jupyter notebook (no list of cells)")
    return nb


def identify(nb, name, registry=None, expect=None):
    """The registry entry of the notebook `nb` (named `name` in messages), from its stamp.

    Raises :class:`NotChecked` (one line) for a notebook without a stamp, of a problem set
    this copy does not have, of another release, or other than `expect` (a problem set name).
    """
    registry = load_registry() if registry is None else registry
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    mark = meta.get(STAMP)
    if not isinstance(mark, dict) or not all(
        isinstance(mark.get(k), str) for k in ("problem_set", "notebook", "digest")
    ):
        if any(_nbgrader(c) for c in nb["cells"] if isinstance(c, dict)):
            raise NotChecked(
                f"{name} has no problem-set stamp in its metadata: it comes from a release older "
                "than this check, or from another course; download the problem set again and "
                "copy your answers into it"
            )
        raise NotChecked(
            f"{name} is not a problem set of this course (a chapter or another "
            "notebook): open one from exercises/"
        )
    ps, notebook = mark["problem_set"], mark["notebook"]
    if expect is not None and ps != expect:
        raise NotChecked(f"{name} is a notebook of problem set {ps}, not of {expect}")
    entry = registry.get(key(ps, notebook))
    if entry is None:
        raise NotChecked(
            f"{name} belongs to problem set {ps} ({notebook}), which this copy of "
            "the course does not have"
        )
    if entry["digest"] != mark["digest"]:
        raise NotChecked(
            f"{name} comes from another release of {ps} than this copy of the course (its tests "
            f"differ): fetch the current {notebook}.ipynb and copy your answers into it, or "
            "update bnlab to the release you work with"
        )
    return entry


# ---------------------------------------------------------------- planning and running


def plan(nb, entry):
    """The cells to run, in the notebook's order, each test cell taken from `entry`.

    Returns ``(steps, notes)``; a step is ``{"kind", "grade_id", "source"}`` with kind
    ``"test"``, ``"answer"`` or ``"cell"``. A test missing from the notebook runs at the end.
    """
    tests = {t["grade_id"]: t for part in entry["parts"] for t in part["tests"]}
    answers = {a for part in entry["parts"] for a in part["answers"]}
    steps, seen, notes = [], set(), []
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        gid = _nbgrader(cell).get("grade_id")
        if gid in tests:
            if gid not in seen:
                seen.add(gid)
                steps.append({"kind": "test", "grade_id": gid, "source": tests[gid]["source"]})
            continue
        kind = "answer" if gid in answers else "cell"
        steps.append({"kind": kind, "grade_id": gid, "source": _source(cell)})
    for gid in tests:
        if gid not in seen:
            notes.append(f"test {gid} was missing from your notebook: it ran after your last cell")
            steps.append({"kind": "test", "grade_id": gid, "source": tests[gid]["source"]})
    return steps, notes


def run(steps, cwd, timeout=600):
    """Run `steps` in a fresh Python process in `cwd`; a list of results, one per step run.

    A result is ``{"ok": bool, "ename": str, "evalue": str}``; steps after a time-out have none.
    """
    with tempfile.TemporaryDirectory(prefix="bnlab-selfcheck-") as tmp:
        plan_file, results_file = Path(tmp, "steps.json"), Path(tmp, "results.jsonl")
        plan_file.write_text(json.dumps(steps))
        env = {**os.environ, CHILD_ENV: "1", "MPLBACKEND": "Agg"}
        argv = [
            sys.executable,
            "-m",
            "bnlab.selfcheck",
            "--child",
            str(plan_file),
            str(results_file),
        ]
        with subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as proc:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        lines = results_file.read_text().splitlines() if results_file.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def _child(plan_file, results_file):
    """Inside the fresh process: run every step, append one JSON line per result."""
    steps = json.loads(Path(plan_file).read_text())
    try:
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance()
    except ImportError:
        shell = None
    namespace = {"__name__": "__main__"}
    with open(results_file, "a") as out:
        for step in steps:
            exc = _execute(shell, namespace, step["source"])
            result = {"ok": exc is None}
            if exc is not None:
                result["ename"], result["evalue"] = type(exc).__name__, str(exc)[:4000]
            out.write(json.dumps(result) + "\n")
            out.flush()


def _execute(shell, namespace, source):
    if shell is not None:
        outcome = shell.run_cell(source, store_history=False, silent=False)
        return outcome.error_before_exec or outcome.error_in_exec
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    try:
        exec(compile(code, "<cell>", "exec"), namespace)  # noqa: S102 - the learner's own notebook
    except Exception as exc:  # noqa: BLE001 - every error is reported
        return exc
    return None


# ---------------------------------------------------------------- the report


@dataclass
class Outcome:
    grade_id: str
    points: float
    hidden: bool
    status: str  # passed, failed, not attempted, not run
    message: str = ""


@dataclass
class PartResult:
    title: str
    points: float
    tests: list = field(default_factory=list)

    @property
    def status(self):
        statuses = {t.status for t in self.tests}
        if statuses == {"passed"}:
            return "passed"
        if statuses == {"not attempted"}:
            return "not attempted"
        return "not run" if statuses == {"not run"} else "failed"


@dataclass
class Report:
    name: str
    entry: dict
    parts: list
    notes: list

    @property
    def visible_points(self):
        full = [t for p in self.parts for t in p.tests if not t.hidden]
        return sum(t.points for t in full if t.status == "passed"), sum(t.points for t in full)

    def text(self):
        e = self.entry
        lines = [f"{self.name}: {e['title']} ({e['problem_set']}/{e['notebook']}.ipynb)"]
        for part in self.parts:
            lines.append(f"  {part.status:<13} {part.title}")
            for t in part.tests:
                if part.status == "not attempted" and t.status == "not attempted":
                    continue
                share = "; its hidden tests are not run here" if t.hidden else ""
                lines.append(
                    f"      {t.status:<13} {t.grade_id} ({t.points:g} point"
                    f"{'s' if t.points != 1 else ''}{share})"
                )
                if t.message:
                    lines += [f"          {line}" for line in t.message.splitlines()]
        lines += [f"  note: {n}" for n in self.notes]
        passed = sum(t.status == "passed" for p in self.parts for t in p.tests)
        count = sum(len(p.tests) for p in self.parts)
        got, full = self.visible_points
        total = sum(p.points for p in self.parts)
        lines.append(
            f"visible tests: {passed} of {count} passed; {got:g} of the {full:g} points of the "
            "tests that are visible in full"
        )
        lines.append(HIDDEN_NOTE.format(hidden=total - full, total=total))
        return "\n".join(lines)

    def __repr__(self):
        passed = sum(t.status == "passed" for p in self.parts for t in p.tests)
        return f"<selfcheck of {self.name}: {passed} visible tests passed>"


def _message(result):
    if result.get("ename") in ("AssertionError", "CheckError"):
        return result.get("evalue") or "a check failed (an assert without a message)"
    return f"{result.get('ename')}: {result.get('evalue')}"


def build_report(name, entry, steps, results, notes, timeout):
    """Turn the results of `steps` into a :class:`Report`."""
    by_test, stubbed = {}, set()
    for k, step in enumerate(steps):
        result = results[k] if k < len(results) else None
        if step["kind"] == "test":
            by_test[step["grade_id"]] = result
        elif step["kind"] == "answer" and result and result.get("ename") == "NotImplementedError":
            stubbed.add(step["grade_id"])
    if len(results) < len(steps):
        stuck = steps[len(results)]
        where = stuck["grade_id"] or f"cell {len(results) + 1}"
        notes = notes + [
            f"the notebook ran over {timeout:g} s (in {where}): later cells did not run"
        ]
    parts = []
    for part in entry["parts"]:
        pr = PartResult(part["title"], part["points"])
        unfinished = stubbed & set(part["answers"])
        for t in part["tests"]:
            result = by_test.get(t["grade_id"])
            if result is None:
                status, message = "not run", ""
            elif result["ok"]:
                status, message = "passed", ""
            elif result.get("ename") == "NotImplementedError" or unfinished:
                status = "not attempted"
                message = (
                    f"still raises NotImplementedError: {', '.join(sorted(unfinished))}"
                    if unfinished
                    else "your function still raises NotImplementedError"
                )
            else:
                status, message = "failed", _message(result)
            pr.tests.append(Outcome(t["grade_id"], t["points"], t["hidden"], status, message))
        parts.append(pr)
    return Report(name, entry, parts, notes)


# ---------------------------------------------------------------- the entry points


def _current_notebook():
    """The path (or a temporary copy) of the notebook this kernel runs, if it can be found."""
    try:  # Colab: the notebook lives in the browser, not on disk
        from google.colab import _message  # type: ignore[import-not-found]

        nb = _message.blocking_request("get_ipynb", timeout_sec=30)["ipynb"]
        path = Path(tempfile.mkdtemp(prefix="bnlab-colab-")) / "notebook.ipynb"
        path.write_text(json.dumps(nb))
        return path
    except ImportError:
        pass
    session = os.environ.get("JPY_SESSION_NAME")
    if session and Path(session).is_file():
        return Path(session)
    raise NotChecked('could not tell which notebook this is: pass its path, check("name.ipynb")')


def check(notebook=None, *, timeout=600, expect=None, registry=None, file=None):
    """Run the visible tests of `notebook` in a fresh process and print the report.

    Parameters
    ----------
    notebook : str or Path, optional
        The notebook (as last saved). Without it: the notebook this kernel runs.
    timeout : float
        Seconds the whole notebook may run.
    expect : str, optional
        The problem set it must be (``"ps3_bn_forward"``).
    registry : dict, optional
        The problem sets to know (default: the package's).
    file : file, optional
        Where to print (default: stdout).

    Returns
    -------
    Report or None
        None when the notebook could not be checked (the one-line reason is printed).
    """
    out = file or sys.stdout
    if os.environ.get(CHILD_ENV):
        print("(the check does not run inside a check)", file=out)
        return None
    try:
        path = Path(notebook) if notebook is not None else _current_notebook()
        nb = read_notebook(path)
        entry = identify(nb, path.name, registry, expect)
    except NotChecked as exc:
        print(f"not checked: {exc}", file=out)
        return None
    steps, notes = plan(nb, entry)
    started = time.monotonic()
    results = run(steps, path.resolve().parent, timeout)
    report = build_report(path.name, entry, steps, results, notes, timeout)
    print(report.text(), file=out)
    print(f"(checked in {time.monotonic() - started:.0f} s, in a fresh Python process)", file=out)
    return report


def _hidden(notebook):
    """Run the instructor repository's selfgrade, or say that this copy has no hidden tests."""
    from importlib.util import find_spec

    if find_spec("course") is None or find_spec("course.grading") is None:
        print(
            "hidden tests: not in this copy of the course (only the instructor's repository "
            "has them; your instructor runs them on your submission)"
        )
        return 0
    argv = [sys.executable, "-m", "course.grading", "selfgrade", str(notebook)]
    return subprocess.run(argv, check=False).returncode


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bnlab.selfcheck",
        description="Run the visible tests of your problem-set notebook and report part by part.",
    )
    parser.add_argument("notebook", nargs="?")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the whole run")
    parser.add_argument("--problem-set", dest="expect", help="the problem set it must be")
    parser.add_argument(
        "--hidden",
        action="store_true",
        help="also run the hidden tests (the instructor's repository only)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    if args.notebook is None:
        parser.error("name the notebook to check")
    report = check(args.notebook, timeout=args.timeout, expect=args.expect)
    if report is None:
        return 2
    if args.hidden:
        return _hidden(args.notebook)
    return 0


if __name__ == "__main__":
    sys.exit(main())
