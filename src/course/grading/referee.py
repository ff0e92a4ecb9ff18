"""The referee of the hidden tests: compare a learner's function with the reference package.

A hidden test calls :func:`agree` with the learner's function, the dotted path of the reference
(a `bnlab` function or an adapter of :mod:`course.grading.references`), and a list of input
cases; :func:`expect_choice` and :func:`expect_number` check a single answer.

Test cells run in the **grader's own process** (:mod:`course.grading.judge`), never in the
learner's kernel: there the learner's names are stand-ins that call into the sandboxed kernel
(:mod:`course.grading.session`) and bring back plain values. So the reference, the tolerance and
the comparison never enter the kernel; only each case's inputs do. (In a notebook the learner runs
at home, or in ``nbgrader validate`` of the source, the same calls simply run in that kernel.)

Tolerance: elementwise ``|got - ref| <= rtol * max(|ref|_max, scale, tiny)``, with ``rtol`` from
the output dtype (float32: 1e-4, float64: 1e-10) unless the test gives one. ``scale`` (optional,
computed from each case's inputs) is the size of the terms a correct result is computed from:
a test gives it where the result itself can nearly vanish by cancellation, so that a correct
solution's rounding is judged against a scale that cannot vanish. The dtype and shape of every
output must match the reference exactly (float32 in, float32 out).
"""

import importlib

import numpy as np

__all__ = ["agree", "expect_choice", "expect_number", "hidden_rng"]


def hidden_rng(key):
    """The random generator a hidden test draws its inputs from: stream `key` (an int, one per
    test) of the course's term secret (:func:`course.grading.config.term_secret`), so the hidden
    inputs are the same all term and different the next."""
    import hashlib

    from course.grading.config import term_secret

    digest = hashlib.sha256(term_secret().encode()).digest()
    entropy = int.from_bytes(digest, "big")
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(int(key),)))


class RefereeError(AssertionError):
    """Raised in the notebook when the submission disagrees with the reference.

    ``safe`` is the same message without any text or value of the submission's (its exception
    messages, its answers): the judge shows that one once the kernel has seen a hidden test's
    inputs, which a submission could otherwise echo back through these messages."""

    def __init__(self, message, safe=None):
        super().__init__(message)
        self.safe = message if safe is None else safe


def _fail(problems, label):
    """A :class:`RefereeError` from ``(message, safe message)`` pairs: at most five, one line."""
    head = f"{label}: "
    return RefereeError(
        head + "; ".join(p for p, _ in problems[:5]), head + "; ".join(s for _, s in problems[:5])
    )


def _describe(value):
    """A case's argument by kind, never by value (a hidden case's values stay hidden)."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    if value is None or isinstance(value, bool):
        return repr(value)
    return f"a {type(value).__name__}"


def _error_name(exc):
    """The builtin exception `exc` counts as, for one the submission raised (a name of this
    side, never the kernel's); else its class's name."""
    return getattr(exc, "builtin_name", type(exc).__name__)


def _as_outputs(out, n_out):
    """The learner's return value as a list of plain ndarrays (never subclasses)."""
    parts = [out] if n_out == 1 else out
    if n_out > 1 and (type(out) not in (tuple, list) or len(out) != n_out):
        raise RefereeError(f"expected a tuple of {n_out} results, got {_kind(out)}")
    arrays = []
    for k, p in enumerate(parts):
        try:
            a = np.array(p, copy=True, subok=False)
        except Exception:  # noqa: BLE001 - any failure is the learner's
            raise RefereeError(f"result {k} is not array-like (got {_kind(p)})") from None
        if a.dtype.kind not in "fiub":
            raise RefereeError(f"result {k} must be numeric, got dtype {a.dtype}")
        arrays.append(a)
    return arrays


def _kind(value):
    """What the submission returned, by kind: an array's dtype and shape, a plain type's name,
    or "an object that stayed in the kernel" (never its text)."""
    if isinstance(value, np.ndarray):
        return _describe(value)
    if type(value) in (int, float, complex, bool, str, list, tuple, dict, type(None)):
        return f"a {type(value).__name__}"
    return "an object that stayed in the kernel"


def agree(student, reference, cases, *, n_out=1, rtol=None, label=None, scale=None):
    """Check that ``student(*case)`` agrees with the reference on every case.

    Parameters
    ----------
    student : callable
        The learner's function.
    reference : str
        Dotted path of the reference: a `bnlab` function (``"bnlab.moments.var"``) or an
        adapter (``"course.grading.references.normalize"``).
    cases : list
        Each case is a tuple of positional arguments, or ``(args, kwargs)`` with a dict.
    n_out : int
        Number of results the function returns (a tuple when > 1).
    rtol : float, optional
        Relative tolerance (relative to the largest reference magnitude); default by dtype.
    label : str, optional
        Shown in the failure message.
    scale : callable, optional
        ``scale(*args, **kwargs)`` of a case: a float, or one float per result, that the
        tolerance is relative to when it exceeds the reference's largest magnitude.

    Raises
    ------
    RefereeError
        With a message that names the case (shape and dtype) and what disagreed (at most five).
    """
    ref_fn = _resolve(reference)
    problems = []
    for i, case in enumerate(cases):
        if len(case) == 2 and isinstance(case[1], dict) and isinstance(case[0], tuple):
            args, kwargs = case
        else:
            args, kwargs = tuple(case), {}
        what = ", ".join(_describe(a) for a in args)
        try:
            ref_out = ref_fn(*_copies(args), **_copies(kwargs))
            ref_exc = None
        except Exception as exc:  # noqa: BLE001 - the reference refusing is the expected answer
            ref_exc = exc
        try:
            out = student(*_copies(args), **_copies(kwargs))
            got_exc = None
        except Exception as exc:  # noqa: BLE001 - raising is an answer we compare
            got_exc = exc
        got_error = _error_name(got_exc) if got_exc is not None else None
        if ref_exc is not None:
            ref_error = type(ref_exc).__name__
            # the same class, or a subclass of it (ProbabilityError(ValueError) for ValueError)
            if not (isinstance(got_exc, type(ref_exc)) or got_error == ref_error):
                msg = f"case {i} ({what}): expected {ref_error}, got {got_error or 'a result'}"
                problems.append((msg, msg))
            continue
        if got_error is not None:
            msg = f"case {i} ({what}): raised {got_error}"
            problems.append((f"{msg}: {str(got_exc)[:200]}", msg))
            continue
        try:
            gots = _as_outputs(out, n_out)
        except RefereeError as exc:
            problems.append((f"case {i} ({what}): {exc}",) * 2)
            continue
        refs = [ref_out] if n_out == 1 else list(ref_out)
        scales = _scales(scale, args, kwargs, n_out)
        for k, (g, r) in enumerate(zip(gots, refs, strict=True)):
            msg = _compare(i, k, g, np.asarray(r), what, rtol, scales[k])
            if msg:
                problems.append(msg)
    if problems:
        raise _fail(problems, label or reference)
    return None


def _scales(scale, args, kwargs, n_out):
    """One floor of the tolerance's scale per result (0 without `scale`)."""
    if scale is None:
        return [0.0] * n_out
    s = scale(*_copies(args), **_copies(kwargs))
    s = [float(v) for v in s] if isinstance(s, (tuple, list)) else [float(s)] * n_out
    if len(s) != n_out:
        raise ValueError(f"scale: expected {n_out} values, got {len(s)}")
    return s


def _copies(args):
    if isinstance(args, dict):
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _resolve(reference):
    module, _, name = reference.rpartition(".")
    if not module.startswith(("bnlab.", "course.grading.references")):
        raise ValueError(f"reference {reference!r} is not a bnlab function or an adapter")
    return getattr(importlib.import_module(module), name)


_RTOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-10}


def _compare(i, k, got, ref, what, rtol, floor=0.0):
    """None if `got` agrees with `ref`, else ``(message, safe message)``: the safe one has
    nothing the submission chose but a one-digit error (a shape it returned could spell out
    anything; see :class:`RefereeError`)."""
    where = f"case {i} ({what}), result {k}"
    if got.shape != ref.shape:
        return (
            f"{where}: shape {got.shape}, expected {ref.shape}",
            f"{where}: shape is not {ref.shape}",
        )
    if got.dtype != ref.dtype:
        return (
            f"{where}: dtype {got.dtype}, expected {ref.dtype} (keep the input's dtype)",
            f"{where}: dtype is not {ref.dtype} (keep the input's dtype)",
        )
    if ref.size == 0:
        return None
    tol = rtol if rtol is not None else _RTOL.get(ref.dtype.name, 1e-10)
    ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
    nan_ref, nan_got = np.isnan(ref64), np.isnan(got64)
    if not np.array_equal(nan_ref, nan_got):
        return (f"{where}: NaN where the reference has none (or the reverse)",) * 2
    scale = max(float(np.max(np.abs(np.where(nan_ref, 0.0, ref64)))), floor, 1e-300)
    err = np.abs(np.where(nan_ref, 0.0, got64 - ref64))
    worst = float(np.max(err)) / scale
    if not worst <= tol:
        text = f"{where}: values differ from the reference (relative error {{:.{{}}e}} > {tol:.0e})"
        return text.format(worst, 2), text.format(worst, 0)
    return None


def expect_choice(answer, correct, name="answer"):
    """Multiple choice: `answer` must be the string `correct` (case and spaces ignored)."""
    if type(answer) is not str:  # noqa: E721 - subclasses could fake __eq__
        raise RefereeError(f"{name} must be a string such as 'A', got {type(answer).__name__}")
    if str.upper(str.strip(answer)) != correct:
        safe = f"{name}: not the right choice"
        raise RefereeError(f"{name}: {answer[:200]!r} is not the right choice", safe)
    return None


def expect_number(answer, correct, name="answer", rtol=1e-9):
    """A numeric answer: a real int/float within `rtol` of `correct`."""
    if type(answer) not in (int, float, np.float64, np.float32, np.int64):
        raise RefereeError(f"{name} must be a number, got {type(answer).__name__}")
    got = float(answer)
    if not abs(got - correct) <= rtol * max(abs(correct), 1.0):
        raise RefereeError(f"{name}: {got!r} is not right", f"{name}: not right")
    return None
