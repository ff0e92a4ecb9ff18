"""The referee of the hidden tests: compare a learner's function with the reference package.

A hidden test calls :func:`agree` with the learner's function, the dotted path of the reference
(a `bnlab` function or an adapter of :mod:`course.grading.references`), and a list of input
cases. The learner's function runs here, in the notebook's
kernel. Everything else -- importing `bnlab`, computing the reference and comparing -- runs in a
**fresh interpreter** (:mod:`course.grading.judge`) that the notebook never touched. Inputs and
the learner's outputs travel as a plain ``.npz`` file read with ``allow_pickle=False``, so an
output object cannot run code in the judge either.

So a submission that monkeypatches ``bnlab``, replaces ``sys.modules["bnlab"]``, stubs out
``numpy.testing``/``np.allclose``, or redefines helper functions of the notebook cannot change
the verdict: the reference and the comparison never see that kernel state. What this module
cannot defend against (code that tampers with the channel itself: ``subprocess``, ``builtins``,
this module in ``sys.modules``) is flagged by :mod:`course.grading.scan` and described in the
instructor guide's threat model.

Tolerance: elementwise ``|got - ref| <= rtol * max(|ref|_max, tiny)``, with ``rtol`` from the
output dtype (float32: 1e-4, float64: 1e-10) unless the test gives one. The dtype and shape of
every output must match the reference exactly (float32 in, float32 out).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

__all__ = ["agree", "expect_choice", "expect_number"]

_SCALAR_TYPES = (bool, int, float, str, type(None))


class RefereeError(AssertionError):
    """Raised in the notebook when the submission disagrees with the reference."""


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return repr(value)


def _pack_args(args, arrays, prefix):
    """Arrays go into the npz, scalars into JSON; returns the JSON description."""
    described = []
    for j, a in enumerate(args):
        if isinstance(a, np.ndarray):
            key = f"{prefix}_{j}"
            arrays[key] = a
            described.append({"array": key})
        elif isinstance(a, _SCALAR_TYPES):
            described.append({"value": a})
        else:
            raise TypeError(f"referee: cannot send argument of type {type(a).__name__}")
    return described


def _as_outputs(out, n_out):
    """The learner's return value as a list of plain ndarrays (never subclasses)."""
    parts = [out] if n_out == 1 else out
    if n_out > 1 and (not isinstance(out, (tuple, list)) or len(out) != n_out):
        raise RefereeError(f"expected a tuple of {n_out} results, got {_describe(out)}")
    arrays = []
    for k, p in enumerate(parts):
        try:
            a = np.array(p, copy=True, subok=False)
        except Exception as exc:  # noqa: BLE001 - any failure is the learner's
            raise RefereeError(f"result {k} is not array-like: {exc}") from None
        if a.dtype.kind not in "fiub":
            raise RefereeError(f"result {k} must be numeric, got dtype {a.dtype}")
        arrays.append(a)
    return arrays


def agree(student, reference, cases, *, n_out=1, rtol=None, label=None, timeout=300):
    """Check that ``student(*case)`` agrees with the reference on every case.

    Parameters
    ----------
    student : callable
        The learner's function.
    reference : str
        Dotted path of the reference: a `bnlab` function (``"bnlab.moments.var"``) or an
        adapter (``"course.grading.references.normalize"``). (The source of a lambda is still
        evaluated by the judge for problem sets that have not moved to dotted paths.)
    cases : list
        Each case is a tuple of positional arguments, or ``(args, kwargs)`` with a dict.
        Arguments are ndarrays or plain scalars/strings/None.
    n_out : int
        Number of results the function returns (a tuple when > 1).
    rtol : float, optional
        Relative tolerance (relative to the largest reference magnitude); default by dtype.
    label : str, optional
        Shown in the failure message.

    Raises
    ------
    RefereeError
        With a message that names the case (shape and dtype) and what disagreed.
    """
    arrays, spec_cases = {}, []
    for i, case in enumerate(cases):
        if len(case) == 2 and isinstance(case[1], dict) and isinstance(case[0], tuple):
            args, kwargs = case
        else:
            args, kwargs = tuple(case), {}
        entry = {
            "args": _pack_args(args, arrays, f"in{i}"),
            "kwargs": dict(
                zip(kwargs, _pack_args(tuple(kwargs.values()), arrays, f"kw{i}"), strict=True)
            ),
            "what": ", ".join(_describe(a) for a in args),
        }
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        kwcopies = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
        try:
            out = student(*copies, **kwcopies)
        except Exception as exc:  # noqa: BLE001 - raising is an answer we compare
            entry["raised"] = type(exc).__name__
            entry["message"] = str(exc)[:200]
        else:
            for k, a in enumerate(_as_outputs(out, n_out)):
                arrays[f"out{i}_{k}"] = a
            entry["n_out"] = n_out
        spec_cases.append(entry)
    spec = {"reference": reference, "cases": spec_cases, "rtol": rtol, "n_out": n_out}
    with tempfile.TemporaryDirectory(prefix="referee-") as tmp:
        with open(os.path.join(tmp, "spec.json"), "w") as f:
            json.dump(spec, f)
        np.savez(os.path.join(tmp, "data.npz"), **arrays)
        proc = subprocess.run(
            [sys.executable, "-I", "-m", "course.grading.judge", tmp],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        )
    if proc.returncode != 0:
        detail = proc.stdout.strip() or proc.stderr.strip()[-500:]
        raise RefereeError(f"{label or reference}: {detail}")
    return None


def expect_choice(answer, correct, name="answer"):
    """Multiple choice: `answer` must be the string `correct` (case and spaces ignored)."""
    if type(answer) is not str:  # noqa: E721 - subclasses could fake __eq__
        raise RefereeError(f"{name} must be a string such as 'A', got {type(answer).__name__}")
    if str.upper(str.strip(answer)) != correct:
        raise RefereeError(f"{name}: {answer!r} is not the right choice")
    return None


def expect_number(answer, correct, name="answer", rtol=1e-9):
    """A numeric answer: a real int/float within `rtol` of `correct`."""
    if type(answer) not in (int, float, np.float64, np.float32, np.int64):
        raise RefereeError(f"{name} must be a number, got {type(answer).__name__}")
    got = float(answer)
    if not abs(got - correct) <= rtol * max(abs(correct), 1.0):
        raise RefereeError(f"{name}: {got!r} is not right")
    return None
