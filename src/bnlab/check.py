"""Checks that explain themselves: what the visible tests of the problem sets call.

A bare ``assert y.shape == x.shape`` fails with an empty ``AssertionError``. Each function here
compares a learner's value with what was expected and, on failure, raises :class:`CheckError`
(an ``AssertionError``) whose message says what was compared (the argument or case), the
expected and the got shape and dtype, the largest absolute and relative error and where, the
tolerance, a pattern the errors follow (every value off by the same factor or offset), and a
hint for the common mistakes of that part. The expected values of a case are shown only at the
worst element, and not at all with ``reveal=False`` (for a case the learner must not see).

>>> import numpy as np
>>> expect_close(np.array([1.0, 2.0]), np.array([1.0, 2.0]), "double(x)")
>>> try:
...     expect_close(np.array([1.0, 3.0]), np.array([1.0, 2.0]), "double(x)", hint="2 * x")
... except CheckError as exc:
...     print(exc)
double(x): values differ
    expected: float64 array of shape (2,)
    got:      float64 array of shape (2,)
    largest absolute error: 1 at [1] (got 3, expected 2)
    largest relative error: 0.5 at [1]
    tolerance: |got - expected| <= 1e-08 + 1e-05 * |expected|; 1 of 2 values outside it
    hint: 2 * x

Every function takes the `name` of what it checks first after the values, and an optional
`hint`; :func:`explain` returns the message of :func:`expect_close` without raising, for
graders that collect several.
"""

import numpy as np

__all__ = [
    "CheckError",
    "describe",
    "explain",
    "expect_array",
    "expect_close",
    "expect_equal",
    "expect_one_of",
    "expect_true",
    "expect_tuple",
    "expect_type",
]

_INDENT = "    "


class CheckError(AssertionError):
    """A visible check failed; the message says what, by how much, and what to look at."""


def describe(value):
    """A short description of `value`: ``float32 array of shape (3,)``, ``int 4``, ``None``."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    if isinstance(value, np.generic):
        return f"{value.dtype} scalar {value!r}" if value.dtype.kind in "fiub" else repr(value)
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of {len(value)}"
    if isinstance(value, (bool, int, float, str)):
        return f"{type(value).__name__} {value!r}"
    if value is None:
        return "None"
    return type(value).__name__


def _fail(name, lines, hint):
    text = [f"{name}: {lines[0]}"] + [_INDENT + line for line in lines[1:]]
    if hint:
        text.append(f"{_INDENT}hint: {hint}")
    raise CheckError("\n".join(text))


def _as_numeric(got):
    """`got` as an ndarray of numbers, or None when it is not one."""
    if isinstance(got, (str, bytes, dict, set)) or got is None:
        return None
    try:
        arr = np.asarray(got)
    except Exception:  # noqa: BLE001 - anything that is not array-like is simply not numeric
        return None
    return arr if arr.dtype.kind in "fiub" else None


def _where(index, shape):
    return f" at [{', '.join(str(int(i)) for i in index)}]" if shape else ""


def _g(value):
    return f"{value:.6g}"


def _kind(dtype, shape):
    return f"{dtype} number" if shape == () else f"{dtype} array of shape {shape}"


def _expected_line(exp, dtype):
    return f"expected: {_kind(np.dtype(dtype) if dtype is not None else exp.dtype, exp.shape)}"


def explain(got, expected, *, rtol=1e-5, atol=1e-8, dtype=None, reveal=True):
    """Why `got` does not match `expected`, as a list of lines, or None when it does.

    Parameters
    ----------
    got : array_like
        The learner's value.
    expected : array_like
        What it should be; its shape must be matched exactly (no broadcasting).
    rtol, atol : float
        Elementwise tolerance ``|got - expected| <= atol + rtol * |expected|`` (NumPy's
        ``allclose`` rule and defaults).
    dtype : dtype, optional
        The dtype `got` must have (unchecked when None).
    reveal : bool
        Show the expected value at the worst element (False for a case kept from the learner).

    Returns
    -------
    list of str or None
        The first line says what differs (shape, dtype, values); the others give the details.
    """
    exp = np.asarray(expected)
    arr = _as_numeric(got)
    if arr is None:
        return [f"expected a number or array, got {describe(got)}", _expected_line(exp, dtype)]
    got_line = f"got:      {_kind(arr.dtype, arr.shape)}"
    if arr.shape != exp.shape:
        return ["wrong shape", _expected_line(exp, dtype), got_line]
    if dtype is not None and arr.dtype != np.dtype(dtype):
        return [
            "wrong dtype",
            _expected_line(exp, dtype),
            got_line,
            "keep the dtype of the input: float32 in, float32 out",
        ]
    g, e = arr.astype(np.float64), exp.astype(np.float64)
    lines = [_expected_line(exp, dtype), got_line]
    bad_nan = np.isnan(g) & ~np.isnan(e)
    if bad_nan.any():
        first = tuple(np.argwhere(bad_nan)[0]) if g.ndim else ()
        count = f"{int(bad_nan.sum())} of {g.size} values are NaN"
        return [
            "NaN where a number is expected",
            *lines,
            f"{count}, the first{_where(first, g.shape)}",
        ]
    err = np.abs(g - e)
    err = np.where(np.isnan(e) & np.isnan(g), 0.0, err)
    err = np.where(np.isinf(e) & (g == e), 0.0, err)
    tol = atol + rtol * np.abs(e)
    bad = ~(err <= tol)
    if not bad.any():
        return None
    worst = np.unravel_index(int(np.argmax(np.where(np.isnan(err), np.inf, err))), g.shape)
    value = f" (got {_g(g[worst])}, expected {_g(e[worst])})" if reveal else ""
    lines.append(f"largest absolute error: {_g(err[worst])}{_where(worst, g.shape)}{value}")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(e != 0, err / np.abs(e), np.where(err == 0, 0.0, np.inf))
    worst_rel = np.unravel_index(int(np.argmax(np.where(np.isnan(rel), np.inf, rel))), g.shape)
    lines.append(f"largest relative error: {_g(rel[worst_rel])}{_where(worst_rel, g.shape)}")
    outside = f"; {int(bad.sum())} of {g.size} values outside it" if g.size > 1 else ""
    lines.append(f"tolerance: |got - expected| <= {atol:g} + {rtol:g} * |expected|{outside}")
    pattern = _pattern(g, e)
    if pattern:
        lines.append(pattern)
    return ["values differ", *lines]


def _pattern(g, e):
    """Regularities of the errors that point at the mistake: a common factor, a common offset."""
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(e))):
        return None
    found = []
    scale = max(float(np.max(np.abs(e))), 1e-300)
    nonzero = np.abs(e) > 1e-9 * scale
    if nonzero.any() and np.all(np.abs(g[~nonzero]) <= 1e-9 * scale):
        ratio = g[nonzero] / e[nonzero]
        r = float(np.median(ratio))
        if np.ptp(ratio) <= 1e-3 * abs(r) and abs(r - 1) > 1e-3:
            found.append(f"every value is about {r:.4g} times the expected one")
    offset = g - e
    shift = float(np.mean(offset))
    if g.size > 1 and np.ptp(offset) <= 1e-3 * abs(shift) and abs(shift) > 1e-6 * scale:
        found.append(f"every value is off by about the same amount, {_g(shift)}")
    return "; ".join(found) or None


def expect_close(got, expected, name, *, rtol=1e-5, atol=1e-8, dtype=None, hint=None, reveal=True):
    """Raise :class:`CheckError` unless `got` matches `expected` within the tolerance.

    Parameters
    ----------
    got : array_like
        The learner's value.
    expected : array_like
        What it should be: same shape (no broadcasting); the dtype only if `dtype` is given.
    name : str
        What was compared, with the argument or case, e.g. ``"normalize(x, 1e-5), x float32
        (10, 3)"``: the first words of the message.
    rtol, atol : float
        ``|got - expected| <= atol + rtol * |expected|`` elementwise.
    dtype : dtype, optional
        The dtype `got` must have.
    hint : str, optional
        The common mistakes of the part, shown last.
    reveal : bool
        False for a case whose expected values the learner must not see.

    Raises
    ------
    CheckError
        With the message of :func:`explain`.
    """
    lines = explain(got, expected, rtol=rtol, atol=atol, dtype=dtype, reveal=reveal)
    if lines:
        _fail(name, lines, hint)


def expect_array(got, name, *, shape=None, dtype=None, hint=None):
    """Raise :class:`CheckError` unless `got` is a numeric array of `shape` and `dtype`.

    >>> expect_array(np.zeros((2, 3), np.float32), "f(x)", shape=(2, 3), dtype=np.float32)
    """
    arr = _as_numeric(got)
    want = " ".join(
        part
        for part in (
            str(np.dtype(dtype)) if dtype is not None else "numeric",
            "array",
            f"of shape {tuple(shape)}" if shape is not None else "",
        )
        if part
    )
    if arr is None:
        _fail(name, [f"expected a {want}, got {describe(got)}"], hint)
    got_line = f"got:      {_kind(arr.dtype, arr.shape)}"
    if shape is not None and arr.shape != tuple(shape):
        _fail(name, ["wrong shape", f"expected: {want}", got_line], hint)
    if dtype is not None and arr.dtype != np.dtype(dtype):
        _fail(
            name,
            [
                "wrong dtype",
                f"expected: {want}",
                got_line,
                "keep the dtype of the input: float32 in, float32 out",
            ],
            hint,
        )


def expect_equal(got, expected, name, *, hint=None):
    """Raise :class:`CheckError` unless `got` equals `expected` exactly (numbers or arrays).

    >>> expect_equal(4, 4, "count")
    """
    exp = np.asarray(expected)
    arr = _as_numeric(got)
    if arr is None:
        _fail(name, [f"expected {describe(expected)}, got {describe(got)}"], hint)
    if arr.shape != exp.shape:
        _fail(
            name,
            ["wrong shape", f"expected: shape {exp.shape}", f"got:      {describe(got)}"],
            hint,
        )
    differ = ~(arr == exp) & ~(np.isnan(arr.astype(float)) & np.isnan(exp.astype(float)))
    if differ.any():
        if exp.ndim == 0:
            _fail(name, [f"expected {_g(exp.item())}, got {_g(arr.item())}"], hint)
        first = tuple(np.argwhere(differ)[0])
        lines = [
            f"{int(differ.sum())} of {exp.size} values differ, the first"
            f"{_where(first, exp.shape)} (got {_g(arr[first])}, expected {_g(exp[first])})"
        ]
        if arr.dtype.kind in "fiu" and exp.dtype.kind in "fiu":
            gap = np.abs(arr.astype(np.float64) - exp.astype(np.float64))
            worst = np.unravel_index(int(np.argmax(np.nan_to_num(gap, nan=np.inf))), gap.shape)
            lines.append(f"largest absolute difference: {_g(gap[worst])}{_where(worst, exp.shape)}")
        _fail(name, lines, hint)


def expect_type(got, types, name, *, hint=None):
    """Raise :class:`CheckError` unless ``isinstance(got, types)``.

    >>> expect_type(0.5, float, "std_ratio")
    """
    if not isinstance(got, types):
        wanted = types if isinstance(types, tuple) else (types,)
        names = " or ".join(t.__name__ for t in wanted)
        article = "an" if names[0] in "aeiou" else "a"
        _fail(name, [f"expected {article} {names}, got {describe(got)}"], hint)


def expect_tuple(got, length, name, *, hint=None):
    """Raise :class:`CheckError` unless `got` is a tuple (or list) of `length` results.

    >>> expect_tuple((1, 2), 2, "f(x)")
    """
    if not isinstance(got, (tuple, list)) or len(got) != length:
        _fail(name, [f"expected a tuple of {length} results, got {describe(got)}"], hint)


def expect_one_of(got, options, name, *, hint=None):
    """Raise :class:`CheckError` unless `got` is one of `options` (a multiple-choice answer).

    >>> expect_one_of("B", "ABCD", "answer_q1")
    """
    options = list(options)
    if got not in options or type(got) is not type(options[0]):
        listed = ", ".join(repr(o) for o in options)
        hint = hint or f'write one letter as a string, for example {name} = "{options[0]}"'
        _fail(name, [f"expected one of {listed}, got {describe(got)}"], hint)


def expect_true(condition, name, *, expected, got=None, hint=None):
    """Raise :class:`CheckError` unless `condition` holds; `expected` says what should hold.

    >>> expect_true(3 > 2, "f(16) > f(8)", expected="more for the larger layer")
    """
    if not condition:
        lines = [f"expected {expected}"] + ([f"got:      {got}"] if got is not None else [])
        _fail(name, lines, hint)
