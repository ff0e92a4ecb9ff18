"""Grading one submission: which cells run in the kernel, which tests the judge runs, and the
feedback notebook, all decided on the trusted side.

For each notebook of the assignment the course's own copy (``solutions/``) is the skeleton:

- the learner's **answer cells** (matched by nbgrader's ``grade_id``) and any cells the learner
  added run in the sandboxed kernel, in the learner's order; so do the course's provided cells
  (the learner's edited version of an unlocked one, the course's version of a locked one or
  of one the learner deleted);
- every **test cell** comes from the course's copy, wherever the learner moved, copied or
  deleted it: its visible part runs in the kernel (so later cells see what they saw at home), then
  :func:`course.grading.judge.judge` runs the whole test in this process and decides its points.
  A test runs at the learner's position of it, but never before the cells it follows in the
  course's copy;
- a cell that raises, loops or crashes the kernel costs only what depends on it
  (:class:`~course.grading.session.Session` restarts and replays).

The feedback notebook holds the learner's own cells with their outputs, and for each test its
visible part, the points and the judge's message: never an output of a test cell, never a hidden
line. It is written with nbgrader's metadata, so ``nbgrader generate_feedback`` renders it.
"""

import copy
import json
import re
import time
import warnings
from pathlib import Path

import nbformat

from course import layout
from course.grading import judge, sandbox
from course.grading.feedback import strip_hidden
from course.grading.scores import Result, part_of_cells
from course.grading.session import Session

_MAX_OUTPUTS = 20
_MAX_TEXT = 20_000
_MAX_FEEDBACK_OUTPUTS = 8 * 2**20  # bytes of the learner's outputs kept in one feedback notebook
#: bytes of a submitted notebook file, outputs included: a larger one is not read. Outputs are
#: dropped as it is read (grading never uses them), so they cost nothing below this bound
MAX_NOTEBOOK = 256 * 2**20
#: characters of all the sources of a submitted notebook together: a larger one is not graded
MAX_SOURCES = 10 * 2**20
#: shown in feedback instead of what a cell printed after hidden tests reached the kernel
WITHHELD = (
    "(output not shown: this cell ran after a hidden test had sent its inputs to your kernel, "
    "and feedback never shows what could hold them; run your notebook to see it)\n"
)
#: what nbgrader's own files of a submission may hold (anything else is not copied on)
_NBGRADER_FILES = {
    "timestamp.txt": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?( ?[A-Z]{1,5})?"),
    "submission_secret.txt": re.compile(r"[0-9a-fA-F]{16,256}"),
}


def _kind(cell):
    if cell.cell_type != "code":
        return "markdown"
    kind = layout.cell_kind(cell)
    if kind in layout.ANSWERS:
        return "answer"
    if kind == layout.TESTS:
        return "test"
    return "provided"


def _learner_grade_id(cell):
    """The ``grade_id`` a learner's cell claims, or None: the learner's metadata may be anything."""
    nbg = cell.get("metadata", {}).get("nbgrader")
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return gid if isinstance(gid, str) else None


class _Step:
    """One step of the plan: a cell to run (``answer``, ``provided``, ``extra``), a test to
    judge, or markdown for the feedback; `s_index` and `s_cell` are the course's cell, if any."""

    def __init__(self, kind, source, s_index=None, s_cell=None):
        self.kind, self.source, self.s_index, self.s_cell = kind, source, s_index, s_cell


def plan(source_nb, student_nb):
    """The ordered steps that grade `student_nb` against the course's `source_nb`, and notes
    for the learner (copied or moved tests, missing cells).

    Two passes: the learner's cells in the learner's order (:func:`_learner_steps`), then the
    course's tests and the course cells the learner deleted, put where they belong
    (:func:`_course_steps`).
    """
    s_cells = source_nb.cells
    steps, seen, notes = _learner_steps(s_cells, student_nb.cells)
    steps, more = _course_steps(s_cells, steps, seen)
    return steps, notes + more


def _course_index(s_cells):
    """``({grade_id: index}, {cell id: index})`` of the course's cells."""
    by_gid = {layout.grade_id(c): k for k, c in enumerate(s_cells) if layout.grade_id(c)}
    by_id = {c["id"]: k for k, c in enumerate(s_cells) if c.get("id")}
    return by_gid, by_id


def _well_formed(t):
    """Whether a learner's cell has text for its source and a mapping for its metadata."""
    return isinstance(t.get("source", ""), str) and isinstance(t.get("metadata", {}), dict)


def _cell_id(t):
    """The id of a learner's cell if it is text, else None (the learner's JSON may hold any)."""
    cid = t.get("id")
    return cid if isinstance(cid, str) else None


def _course_match(t, s_cells, by_gid, by_id):
    """Index of the course cell that the learner's cell `t` stands for, or None: the one with
    the ``grade_id`` it claims, else a provided cell with its id."""
    gid = _learner_grade_id(t)
    if gid in by_gid:
        return by_gid[gid]
    k = by_id.get(_cell_id(t))
    return k if k is not None and _kind(s_cells[k]) == "provided" else None


def _course_markdown(t, k, s_cells, by_id):
    """The course's text for a learner's markdown cell, or None: feedback shows the course's
    text, never the learner's markdown (it is rendered to HTML the instructor may open too)."""
    k = k if k is not None else by_id.get(_cell_id(t))
    return s_cells[k].source if k is not None and s_cells[k].cell_type == "markdown" else None


def _learner_step(t, k, s):
    """The step of a learner's answer or provided cell `t` for course cell `k` (`s`): a locked
    provided cell runs the course's source, any other the learner's."""
    kind = _kind(s)
    locked = kind == "provided" and layout.cell_kind(s) == layout.LOCKED
    return _Step(kind, s.source if locked else t.get("source", ""), s_index=k, s_cell=s)


def _learner_steps(s_cells, student_cells):
    """The first pass: ``(steps, seen, notes)``, the steps of the learner's cells in the
    learner's order (a test as the course's copy of it, where the learner has it), the course
    cells they matched, and notes. A second copy of a test is dropped; of another cell, it is
    the learner's own code."""
    by_gid, by_id = _course_index(s_cells)
    steps, seen, notes = [], set(), []
    for t in student_cells:
        if not _well_formed(t):
            notes.append("a malformed cell (its source is not text) was left out")
            continue
        k = _course_match(t, s_cells, by_gid, by_id)
        if t.get("cell_type") != "code":
            text = _course_markdown(t, k, s_cells, by_id)
            if text is not None:
                steps.append(_Step("markdown", text))
            continue
        if k in seen and _kind(s_cells[k]) == "test":
            gid = _learner_grade_id(t)
            notes.append(f"a copy of test {gid} was ignored (tests run from the course's copy)")
            continue
        if k is None or k in seen:
            steps.append(_Step("extra", t.get("source", "")))
        elif _kind(s_cells[k]) == "test":
            steps.append(_Step("test", s_cells[k].source, s_index=k, s_cell=s_cells[k]))
        else:
            steps.append(_learner_step(t, k, s_cells[k]))
        if k is not None:
            seen.add(k)
    return steps, seen, notes


def _after(steps, k):
    """Index of the last step that comes from a course cell before course cell `k`, or -1."""
    return max((i for i, st in enumerate(steps) if st.s_index is not None and st.s_index < k),
               default=-1)  # fmt: skip


def _test_position(steps, after, where):
    """Where a test goes: at the learner's position `where` of it, never before the step
    `after` of its predecessors; a deleted test (`where` None) after its predecessors and the
    learner's own cells and markdown that follow them."""
    if where is None:
        where = after + 1
        while where < len(steps) and steps[where].kind in ("extra", "markdown"):
            where += 1
    return max(where, after + 1)


def _missing(k, s):
    """``(step, note)`` for the course's answer or provided cell `k` that the learner deleted:
    an answer comes back empty, a provided cell as the course has it."""
    gid = layout.grade_id(s) or s.get("id", "?")
    if _kind(s) == "answer":
        note = f"answer cell {gid} was missing from your notebook"
        return _Step("answer", "", s_index=k, s_cell=s), note
    note = f"a provided cell ({gid}) was missing and was put back"
    return _Step("provided", s.source, s_index=k, s_cell=s), note


def _place_test(steps, k, s):
    """`steps` with the course's test `k` (`s`) where it runs (:func:`_test_position`)."""
    steps = list(steps)
    at = next((i for i, st in enumerate(steps) if st.kind == "test" and st.s_index == k), None)
    step = steps.pop(at) if at is not None else _Step("test", s.source, s_index=k, s_cell=s)
    steps.insert(_test_position(steps, _after(steps, k), at), step)
    return steps


def _course_steps(s_cells, steps, seen):
    """The second pass: `steps` with every test and every course cell the learner deleted put
    in, in the course's order; returns ``(steps, notes)``."""
    steps, notes = list(steps), []
    for k, s in enumerate(s_cells):
        kind = _kind(s)
        if kind == "markdown" or (k in seen and kind != "test"):
            continue
        if kind == "test":
            steps = _place_test(steps, k, s)
            continue
        step, note = _missing(k, s)
        steps.insert(_after(steps, k) + 1, step)
        notes.append(note)
    return steps, notes


def grade_notebook(source_nb, student_nb, session, deadline=None):
    """Grade one notebook; returns ``(verdicts, feedback_nb, notes)``."""
    steps, notes = plan(source_nb, student_nb)
    base = judge.prelude(source_nb)
    session.deadline = deadline
    verdicts, cells, budget = {}, [], [_MAX_FEEDBACK_OUTPUTS]
    for n, step in enumerate(steps):
        if step.kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(step.source))
            continue
        if step.kind == "test":
            visible = strip_hidden(step.source, step.s_cell)
            gid = layout.grade_id(step.s_cell)
            session.run(visible, label=f"the visible part of {gid}")
            v = judge.judge(step.s_cell, session, base)
            verdicts[v.grade_id] = v
            cells.append(_test_cell(step.s_cell, visible, v))
            continue
        label = _label(step, n)
        outputs, error = ([], None)
        if step.source.strip():
            outputs, error = session.run(step.source, label=label)
            if session.tainted and (outputs or error):
                # the kernel knows a hidden test's inputs: nothing it says reaches the feedback
                # (incidents, written on this side, still say if the cell timed out or crashed)
                outputs, error = (
                    [{"output_type": "stream", "name": "stdout", "text": WITHHELD}],
                    None,
                )
        cells.append(_code_cell(step, outputs, error, budget))
    fb = nbformat.v4.new_notebook(metadata=copy.deepcopy(source_nb.metadata), cells=cells)
    return verdicts, fb, notes + session.incidents


def _label(step, n):
    if step.s_cell is not None:
        gid = layout.grade_id(step.s_cell)
        return f"cell {gid}" if gid else f"cell {n + 1}"
    return f"cell {n + 1} (your own)"


def _code_cell(step, outputs, error, budget):
    cell = nbformat.v4.new_code_cell(step.source)
    if step.s_cell is not None and step.s_cell.metadata.get("nbgrader"):
        cell.metadata["nbgrader"] = copy.deepcopy(step.s_cell.metadata["nbgrader"])
    kept = []
    for o in _clean(outputs):
        size = len(str(o))
        if size > budget[0]:
            kept.append({"output_type": "stream", "name": "stdout",
                         "text": "(more output than feedback keeps)\n"})  # fmt: skip
            break
        budget[0] -= size
        kept.append(o)
    cell.outputs = [nbformat.from_dict(o) for o in kept]
    if error:
        ename, evalue = str(error.get("ename", "Error"))[:200], str(error.get("evalue", ""))
        cell.outputs.append(
            nbformat.v4.new_output(
                "error",
                ename=ename,
                evalue=evalue[:_MAX_TEXT],
                traceback=[f"{ename}: {evalue[:_MAX_TEXT]}"],
            )
        )
    return cell


def _clean(outputs):
    """Only the output types and fields feedback shows, bounded in size (the kernel's outputs
    are the learner's and untrusted: never more than this reaches the feedback)."""
    out = []
    for o in outputs[:_MAX_OUTPUTS]:
        if not isinstance(o, dict):
            continue
        kind = o.get("output_type")
        if kind == "stream" and o.get("name") in ("stdout", "stderr"):
            out.append({"output_type": "stream", "name": o["name"],
                        "text": str(o.get("text", ""))[-_MAX_TEXT:]})  # fmt: skip
        elif kind in ("display_data", "execute_result") and isinstance(o.get("data"), dict):
            data = {
                m: str(v)[: 2_000_000 if m == "image/png" else _MAX_TEXT]
                for m, v in o["data"].items()
                if m in ("text/plain", "image/png") and isinstance(v, str)
            }
            entry = {"output_type": kind, "data": data, "metadata": {}}
            if kind == "execute_result":
                entry["execution_count"] = None
            out.append(entry)
    return out


def _test_cell(s_cell, visible, verdict):
    cell = nbformat.v4.new_code_cell(visible)
    cell.metadata["nbgrader"] = copy.deepcopy(s_cell.metadata["nbgrader"])
    mark = "passed" if verdict.passed else "failed"
    # the message may quote the learner's text: its lines are indented under the verdict line
    message = verdict.message.replace("\n", "\n    ")
    text = f"[{mark}: {verdict.points:g} / {verdict.max_points:g} points] {message}\n"
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return cell


def _renamed(sources, submission_dir):
    """``{expected name: path}`` when exactly one notebook of the assignment is missing and
    exactly one other notebook was submitted (``moments (1).ipynb``, a copy saved under another
    name): that one is graded in its place."""
    names = {s.name for s in sources}
    missing = [n for n in names if not (Path(submission_dir) / n).exists()]
    others = [p for p in sorted(Path(submission_dir).glob("*.ipynb")) if p.name not in names]
    if len(missing) == 1 and len(others) == 1:
        return {missing[0]: others[0]}
    return {}


def _read_submitted(path):
    """``(notebook, None)``, or ``(None, why not)`` for a missing, linked, huge or broken file.
    The notebook comes without its outputs: grading never uses them, so a large image costs
    nothing (only :data:`MAX_NOTEBOOK` bounds the file, :data:`MAX_SOURCES` its sources)."""
    if not path.exists() and not path.is_symlink():
        return None, f"{path.name} was not submitted"
    if path.is_symlink() or not path.is_file():
        return None, f"{path.name} is not a regular file"
    if path.stat().st_size > MAX_NOTEBOOK:
        return None, f"{path.name} is larger than {MAX_NOTEBOOK // 2**20} MB (outputs included)"
    try:
        raw = _without_outputs(json.loads(path.read_bytes()))
        with warnings.catch_warnings():
            # duplicate cell ids, an old minor version, ...: nbformat mends them and warns
            warnings.simplefilter("ignore")
            nb = nbformat.reads(json.dumps(raw), 4)
    except Exception as exc:  # noqa: BLE001 - a broken file is the learner's
        return None, f"{path.name} could not be read ({type(exc).__name__})"
    size = sum(len(c.get("source", "")) for c in nb.cells if isinstance(c.get("source"), str))
    if size > MAX_SOURCES:
        return None, f"{path.name} has more than {MAX_SOURCES // 2**20} MB of code and text"
    return nb, None


def _without_outputs(raw):
    """A notebook's JSON with every output, execution count and attachment removed."""
    for cell in raw.get("cells", []) if isinstance(raw, dict) else []:
        if isinstance(cell, dict):
            cell.pop("attachments", None)
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
    return raw


def grade_submission(source_dir, submission_dir, student, *, sandboxed=True, timeout=1800,
                     keep=None):  # fmt: skip
    """Grade `student`'s notebooks in `submission_dir` against the assignment `source_dir`.

    Returns a :class:`~course.grading.scores.Result` (scores, the judge's messages, notes);
    with `keep`, the feedback notebooks are written there (nbgrader's ``autograded/`` folder).
    """
    source_dir, submission_dir = Path(source_dir), Path(submission_dir)
    result = Result(student, source_dir.name)
    deadline = time.monotonic() + timeout
    feedback_nbs = {}
    sources = sorted(source_dir.glob("*.ipynb"))
    renamed = _renamed(sources, submission_dir)
    for src in sources:
        source_nb = nbformat.read(src, 4)
        result.parts[src.stem] = part_of_cells(source_nb)
        tests = [c for c in source_nb.cells if _kind(c) == "test"]
        path = submission_dir / src.name
        if src.name in renamed:
            path = renamed[src.name]
            result.incidents.append(f"{src.name} was missing: graded {path.name} in its place")
        student_nb, problem = _read_submitted(path)
        if student_nb is None:
            result.incidents.append(f"{problem}: its tests score 0")
            student_nb = nbformat.v4.new_notebook()
        with Session(sandboxed=sandboxed) as session:
            verdicts, fb, notes = grade_notebook(source_nb, student_nb, session, deadline)
        result.incidents.extend(f"{src.name}: {n}" for n in notes)
        result.scores[src.stem] = {
            c.metadata.nbgrader.grade_id: (
                verdicts[c.metadata.nbgrader.grade_id].points,
                float(c.metadata.nbgrader.get("points", 0)),
            )
            for c in tests
        }
        result.messages[src.stem] = {gid: v.message for gid, v in verdicts.items()}
        feedback_nbs[src.name] = fb
    if keep is not None:
        keep = Path(keep)
        keep.mkdir(parents=True, exist_ok=True)
        for name, fb in feedback_nbs.items():
            nbformat.write(fb, keep / name)
        # nbgrader's own files of a submission (release_feedback needs the secret), only if
        # they are what nbgrader writes: never a link, never anything else passed on
        for name, pattern in _NBGRADER_FILES.items():
            f = submission_dir / name
            if f.is_file() and not f.is_symlink() and f.stat().st_size < 1000:
                text = f.read_text(errors="replace").strip()
                if pattern.fullmatch(text):
                    (keep / name).write_text(text)
    return result


def selfgrade(notebook, source=None, *, sandboxed=True, timeout=1800):
    """Grade a learner's own notebook with the hidden tests; returns a
    :class:`~course.grading.scores.Result` for that one notebook.

    The problem set is the one the notebook's stamp names (:func:`bnlab.selfcheck.identify`),
    whatever the file is called; a notebook that cannot be identified raises
    :class:`bnlab.selfcheck.NotChecked` with a one-line reason.
    """
    import shutil
    import tempfile

    from bnlab import selfcheck

    if sandboxed:
        sandbox.probe()
    source = Path(source) if source is not None else layout.COURSE.source
    notebook = Path(notebook).resolve()
    entry = selfcheck.identify(selfcheck.read_notebook(notebook), notebook.name)
    assignment, stem = entry["problem_set"], entry["notebook"]
    if not (source / assignment / f"{stem}.ipynb").is_file():
        raise selfcheck.NotChecked(f"{source} has no {assignment}/{stem}.ipynb")
    with tempfile.TemporaryDirectory(prefix="bn-self-") as tmp:
        shutil.copy2(notebook, Path(tmp) / f"{stem}.ipynb")
        result = grade_submission(
            source / assignment, tmp, "me", sandboxed=sandboxed, timeout=timeout
        )
    # a learner grades one notebook: report only that one
    result.scores = {stem: result.scores[stem]}
    return result
