"""The judge of the hidden tests: the trusted side of :func:`course.grading.referee.agree`.

It runs as ``python -I -m course.grading.judge DIR``, a fresh interpreter that the learner's kernel
never touched: it reads the cases and the learner's outputs from ``DIR`` (JSON and an ``.npz``
read with ``allow_pickle=False``), computes the reference, compares, and prints what disagreed.
"""

import importlib
import json
import os
import sys

import numpy as np

from course.grading import REFERENCE_MODULES
from course.grading.references import fail, from_stats

_RTOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-10}


def _resolve(reference):
    """The reference function: a dotted path, or (until every hidden test names one) the source
    of a lambda, evaluated with np, bnlab, its graded modules, fail and from_stats in scope."""
    if reference.lstrip().startswith("lambda"):
        import bnlab

        namespace = {"np": np, "bnlab": bnlab, "fail": fail, "from_stats": from_stats}
        for name in REFERENCE_MODULES:
            namespace[name.rpartition(".")[2]] = importlib.import_module(name)
        return eval(reference, namespace)  # noqa: S307 - trusted test source, not learner input
    module, _, name = reference.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _unpack(described, data):
    return [data[d["array"]] if "array" in d else d["value"] for d in described]


def _compare(i, k, got, ref, what, rtol):
    where = f"case {i} ({what}), result {k}"
    if got.shape != ref.shape:
        return f"{where}: shape {got.shape}, expected {ref.shape}"
    if got.dtype != ref.dtype:
        return f"{where}: dtype {got.dtype}, expected {ref.dtype} (keep the input's dtype)"
    if ref.size == 0:
        return None
    tol = rtol if rtol is not None else _RTOL.get(ref.dtype.name, 1e-10)
    ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
    nan_ref, nan_got = np.isnan(ref64), np.isnan(got64)
    if not np.array_equal(nan_ref, nan_got):
        return f"{where}: NaN where the reference has none (or the reverse)"
    scale = max(float(np.max(np.abs(np.where(nan_ref, 0.0, ref64)))), 1e-300)
    err = np.abs(np.where(nan_ref, 0.0, got64 - ref64))
    worst = float(np.max(err)) / scale
    if not worst <= tol:
        return f"{where}: values differ from the reference (relative error {worst:.2e} > {tol:.0e})"
    return None


def _main(directory):
    with open(os.path.join(directory, "spec.json")) as f:
        spec = json.load(f)
    with np.load(os.path.join(directory, "data.npz"), allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    ref_fn = _resolve(spec["reference"])
    n_out, problems = spec["n_out"], []
    for i, case in enumerate(spec["cases"]):
        args = _unpack(case["args"], data)
        kwargs = dict(
            zip(case["kwargs"], _unpack(list(case["kwargs"].values()), data), strict=True)
        )
        try:
            ref_out = ref_fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the reference refusing is the expected answer
            if case.get("raised") != type(exc).__name__:
                got = case.get("raised") or "a result"
                problems.append(
                    f"case {i} ({case['what']}): expected {type(exc).__name__}, got {got}"
                )
            continue
        if "raised" in case:
            problems.append(
                f"case {i} ({case['what']}): raised {case['raised']}: {case['message']}"
            )
            continue
        refs = [ref_out] if n_out == 1 else list(ref_out)
        for k, r in enumerate(refs):
            msg = _compare(i, k, data[f"out{i}_{k}"], np.asarray(r), case["what"], spec["rtol"])
            if msg:
                problems.append(msg)
    if problems:
        print("\n".join(problems[:5]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
