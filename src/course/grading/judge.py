"""The judge: runs a test cell of the course's own copy in the grader's process.

A test cell (visible part and hidden tests) is taken from ``solutions/``, never from the
submission, and executed here, in the trusted process. Its free names that the course's
imports do not define -- the learner's functions and answers -- are looked up in the
submission's kernel through the :class:`~course.grading.session.Session`: a function becomes a
stand-in that calls it there, a value arrives as plain data (:mod:`course.grading.wire`).
``np``, ``sp`` and every other module come from the course's import cells, imported here, so a
submission that rebinds them changes nothing here. The verdict -- points and a message that
never quotes a hidden line -- is written by this module only.
"""

import ast
import builtins
import contextlib
import os
import signal
import sys
import threading
import traceback
from dataclasses import dataclass

from course.grading.session import KernelLost, StudentRaised
from course.grading.text import clean
from course.layout import ANSWERS, TESTS, cell_kind, grade_id, hidden_line_numbers, points

_FILENAME = "<test {}>"


#: seconds a test may take in the grader itself (the learner's values could make it slow);
#: BNLAB_JUDGE_TIMEOUT says otherwise. Its memory is bounded by the grading worker
#: (:mod:`course.grading.worker`), whose main thread runs every test.
JUDGE_TIMEOUT = int(os.environ.get("BNLAB_JUDGE_TIMEOUT", "300"))


class JudgeTimeout(BaseException):
    """A test ran over :data:`JUDGE_TIMEOUT` in the grader."""


@contextlib.contextmanager
def _time_limit(seconds):
    """Interrupt the block after `seconds` (in the main thread, where the grading worker of
    :mod:`course.grading.worker` runs every test; in another thread only the worker's own time
    limit applies)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise JudgeTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Verdict:
    grade_id: str
    points: float
    max_points: float
    message: str

    @property
    def passed(self):
        return self.points == self.max_points


def prelude(source_nb):
    """The namespace every test starts from: the import statements of the course's own
    (not the learner's) code cells, run here."""
    ns = {"__name__": "__grading__"}
    for cell in source_nb.cells:
        if cell.cell_type != "code" or cell_kind(cell) in (*ANSWERS, TESTS):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        if imports:
            exec(compile(ast.Module(imports, []), "<course imports>", "exec"), ns)  # noqa: S102
    return ns


def free_names(source):
    """Names `source` reads but never binds itself (nor are builtins)."""
    tree = ast.parse(source)
    loaded, bound = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded.append if isinstance(node.ctx, ast.Load) else bound.add)(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    out = []
    for name in loaded:
        if name not in bound and not hasattr(builtins, name) and name not in out:
            out.append(name)
    return out


def visible_lines(source, cell=None):
    """Line numbers (1-based) of `source` outside the hidden-test regions (`cell` names it in
    an error)."""
    hidden = hidden_line_numbers(source, cell)
    return {i + 1 for i in range(len(source.splitlines())) if i not in hidden}


def judge(cell, session, base_ns):
    """Run the course's test `cell` against the submission in `session`; a :class:`Verdict`."""
    gid, max_points = grade_id(cell), points(cell)
    ns = dict(base_ns)
    try:
        with _time_limit(JUDGE_TIMEOUT):
            return _judge(cell, session, ns, gid, max_points)
    except JudgeTimeout:
        session.kill()  # a request may be half done: the next one starts a fresh kernel
        return Verdict(
            gid, 0.0, max_points, f"not judged: the test ran over {JUDGE_TIMEOUT} s in the grader"
        )
    except MemoryError:
        session.kill()
        return Verdict(gid, 0.0, max_points, "not judged: the test ran out of memory in the grader")
    finally:
        session.watch = None


def _judge(cell, session, ns, grade_id, points):
    filename = _FILENAME.format(grade_id)
    session.watch = (filename, visible_lines(cell.source, cell))
    try:
        for name in free_names(cell.source):
            if name in ns:
                continue
            found, value = session.get(name)
            if found:
                ns[name] = value
        code = compile(cell.source, filename, "exec")
        exec(code, ns)  # noqa: S102 - the course's own test, not the learner's code
    except KernelLost as exc:
        return Verdict(grade_id, 0.0, points, clean(f"not judged: {exc}"))
    except (JudgeTimeout, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none escapes
        message = _explain(exc, cell.source, grade_id, session.tainted)
        return Verdict(grade_id, 0.0, points, clean(message))
    return Verdict(grade_id, points, points, "passed")


def _explain(exc, source, grade_id, tainted=False):
    """Why a test failed, in words: the learner's exception, the referee's message, or the
    failing line when it is a visible one (a hidden line is never quoted). Once the kernel has
    seen a hidden test's inputs (`tainted`), nothing the kernel said is quoted: only names and
    words of this side (the builtin exception a learner's error counts as, the referee's
    message without the learner's values)."""
    line_no = None
    for frame, lineno in traceback.walk_tb(sys.exc_info()[2]):
        if frame.f_code.co_filename == _FILENAME.format(grade_id):
            line_no = lineno
    where = ""
    if line_no is not None:
        if line_no in visible_lines(source):
            where = f" at the visible line `{source.splitlines()[line_no - 1].strip()}`"
        else:
            where = " in a hidden test"
    if isinstance(exc, StudentRaised):
        if tainted:
            return f"your code raised {exc.builtin_name}{where}"
        return f"your code raised {type(exc).__name__}: {exc}{where}"
    if isinstance(exc, NameError):
        return f"{exc} (define it in your notebook){where}"
    if isinstance(exc, AssertionError):
        text = str(getattr(exc, "safe", None) if tainted else exc).strip()
        if tainted and not hasattr(exc, "safe"):
            text = ""  # an assertion of the test's own may format the learner's values
        return f"{text}{where}" if text else f"a check failed{where}"
    if tainted:
        return f"{type(exc).__name__}{where}"
    return f"{type(exc).__name__}: {exc}{where}"
