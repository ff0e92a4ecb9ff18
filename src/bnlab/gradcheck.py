"""Gradient checking: central finite differences and the relative error between two gradients.

Derived in chapter 5.
"""

import numpy as np

from bnlab._validate import float_array, nonnegative_float


def numerical_gradient(f, x, dy=None, h=1e-5):
    """Gradient of `f` at `x` by central differences, one coordinate at a time.

    Parameters
    ----------
    f : callable
        ``f(x)`` returns a scalar (when `dy` is None) or an array of the shape of `dy`.
    x : ndarray of any shape, float32 or float64
        Point of evaluation. Perturbed in place and restored after each perturbation.
    dy : ndarray of the shape of f(x), optional
        Upstream gradient; then the result is the vector-Jacobian product.
    h : float, default 1e-5
        Step size. Use float64 `x`: in float32 the rounding error ``eps / h`` dominates.

    Returns
    -------
    dx : ndarray of x.shape, dtype of x

    Notes
    -----
    ``dx[i] = (F(x + h e_i) - F(x - h e_i)) / (2 h)`` with ``F = f`` or ``F = sum(f * dy)``,
    evaluated in float64 (``2 h`` is the step actually taken after rounding to x's dtype).
    The truncation error is O(h^2), the rounding error O(eps |F| / h). Costs 2 x.size calls
    of `f`. Derived in chapter 5.

    Examples
    --------
    >>> x = np.array([1.0, -2.0])
    >>> np.round(numerical_gradient(lambda x: np.sum(x**3), x), 8)
    array([ 3., 12.])
    >>> np.round(numerical_gradient(lambda x: 2 * x, x, dy=np.array([1.0, 5.0])), 8)
    array([ 2., 10.])
    """
    x = float_array(x, "x", min_ndim=0)
    h = nonnegative_float(h, "h")
    if h == 0:
        raise ValueError("h must be > 0, got 0.0")
    dx = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        dx[i] = _central_difference(f, x, i, h, dy)
    return dx


def _central_difference(f, x, i, h, dy):
    old = x[i]
    try:
        x[i] = old + h
        x_plus, f_plus = float(x[i]), _objective(f(x), dy)
        x[i] = old - h
        x_minus, f_minus = float(x[i]), _objective(f(x), dy)
    finally:
        x[i] = old
    return (f_plus - f_minus) / (x_plus - x_minus)


def _objective(out, dy):
    out = np.asarray(out, dtype=np.float64)
    if dy is None:
        if out.ndim != 0:
            raise ValueError(f"f must return a scalar when dy is None, got shape {out.shape}")
        return float(out)
    if out.shape != np.shape(dy):
        raise ValueError(f"dy must have the shape of f(x), {out.shape}, got {np.shape(dy)}")
    return float(np.sum(out * dy))


def rel_error(a, b):
    """Largest elementwise relative error between two arrays, as in CS231n.

    Parameters
    ----------
    a, b : array_like of the same shape, real

    Returns
    -------
    err : float

    Notes
    -----
    ``max(|a - b| / max(1e-8, |a| + |b|))``. The floor 1e-8 keeps entries where both are zero
    from dividing by zero. Below about 1e-7 in float64 two gradients agree. Derived in chapter 5.

    Examples
    --------
    >>> round(rel_error(np.array([1.0, 0.0]), np.array([1.1, 0.0])), 6)  # 0.1 / 2.1
    0.047619
    """
    a, b = _real_array(a, "a"), _real_array(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("a and b must not be empty")
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def _real_array(value, name):
    value = np.asarray(value)
    if value.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {value.dtype}")
    return value.astype(np.float64)
