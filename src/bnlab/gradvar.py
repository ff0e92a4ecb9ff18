"""Variance of the mini-batch gradient: exact formulas, Monte Carlo simulation, the 1/B law.

`G` holds per-sample gradients, shape (n, p): row i is the gradient of the loss of example i,
a finite population of n examples. The mini-batch gradient ``g_B`` is the mean of B rows,
an unbiased estimator of the full gradient ``g = mean(G, axis=0)``. Variances are per
coordinate, shape (p,); their sum is the trace of the covariance. Derived in chapter 3.
"""

import numpy as np

from bnlab._validate import float_matrix, positive_int
from bnlab.moments import mean, var


def _batch_size(n, B, replace):
    if not isinstance(replace, (bool, np.bool_)):
        raise TypeError(f"replace must be a bool, got {type(replace).__name__}")
    B = positive_int(B, "B")
    if not replace and B > n:
        raise ValueError(f"B must be <= n={n} when sampling without replacement, got B={B}")
    return B


def _sample(n, B, replace, rng):
    return rng.integers(0, n, size=B) if replace else rng.choice(n, size=B, replace=False)


def population_cov_trace(G):
    """Total variance of one per-sample gradient: the trace of the population covariance.

    Parameters
    ----------
    G : ndarray of shape (n, p), float32 or float64

    Returns
    -------
    trace : scalar of G's dtype

    Notes
    -----
    ``tr(Sigma) = sum_j sigma_j^2`` with ``sigma_j^2 = (1/n) sum_i (G[i, j] - g[j])^2``
    (ddof=0: the n rows are the whole population, not a sample of it). Derived in chapter 3.

    Examples
    --------
    >>> G = np.array([[1.0, 0.0], [3.0, 4.0]])
    >>> float(population_cov_trace(G))
    5.0
    """
    G = float_matrix(G, "G", "(n, p)")
    return np.sum(var(G, axis=0), dtype=np.float64).astype(G.dtype)


def minibatch_variance(G, B, replace=True):
    """Exact per-coordinate variance of the mini-batch gradient ``g_B``.

    Parameters
    ----------
    G : ndarray of shape (n, p), float32 or float64
    B : int
        Batch size, >= 1; at most n without replacement.
    replace : bool, default True
        Draw the B rows independently (with replacement) or as a uniform subset of distinct rows.

    Returns
    -------
    v : ndarray of shape (p,), dtype of G

    Notes
    -----
    With ``sigma^2`` the population variance of each coordinate (ddof=0)::

        with replacement     Var(g_B) = sigma^2 / B
        without replacement  Var(g_B) = sigma^2 / B * (n - B) / (n - 1)

    The factor ``(n - B) / (n - 1)`` is the finite-population correction: 0 at ``B = n``,
    where the batch is the whole data set. Derived in chapter 3.

    Examples
    --------
    >>> G = np.array([[0.0], [2.0], [4.0], [6.0]])
    >>> minibatch_variance(G, 2), minibatch_variance(G, 2, replace=False)
    (array([2.5]), array([1.66666667]))
    """
    G = float_matrix(G, "G", "(n, p)")
    n = G.shape[0]
    B = _batch_size(n, B, replace)
    factor = 1.0 if replace or n == 1 else (n - B) / (n - 1)
    return (var(G, axis=0).astype(np.float64) * factor / B).astype(G.dtype)


def simulate_minibatch_variance(G, B, replace=True, n_draws=2000, rng=None):
    """Monte Carlo estimate of the per-coordinate variance of the mini-batch gradient.

    Parameters
    ----------
    G : ndarray of shape (n, p), float32 or float64
    B : int
    replace : bool, default True
    n_draws : int, default 2000
        Number of independent mini-batches.
    rng : None, int or numpy.random.Generator
        Passed to `numpy.random.default_rng`; an int makes the result reproducible.

    Returns
    -------
    v : ndarray of shape (p,), dtype of G

    Notes
    -----
    ``v = (1/K) sum_k (g_{B_k} - g)^2`` over K = `n_draws` batches drawn by `sample_indices`.
    The full gradient ``g`` is known, so no degree of freedom is lost: ``E[v] = Var(g_B)``
    exactly, and v approaches `minibatch_variance` at the rate ``1 / sqrt(K)``. Computed in
    float64. Derived in chapter 3.

    Examples
    --------
    >>> G = np.array([[0.0], [2.0], [4.0], [6.0]])
    >>> v = simulate_minibatch_variance(G, 2, n_draws=4000, rng=0)
    >>> bool(abs(v[0] - 2.5) < 0.2)
    True
    """
    G = float_matrix(G, "G", "(n, p)")
    B = _batch_size(G.shape[0], B, replace)
    n_draws = positive_int(n_draws, "n_draws")
    rng = np.random.default_rng(rng)
    g = mean(G.astype(np.float64), axis=0)
    total = np.zeros(G.shape[1])
    for _ in range(n_draws):
        total += (
            np.mean(G[_sample(G.shape[0], B, replace, rng)], axis=0, dtype=np.float64) - g
        ) ** 2
    return (total / n_draws).astype(G.dtype)


def sample_indices(n, B, replace=True, rng=None):
    """Row indices of one mini-batch drawn uniformly from n examples.

    Parameters
    ----------
    n : int
        Number of examples.
    B : int
        Batch size; at most n without replacement.
    replace : bool, default True
        True: B independent uniform draws (repeats possible). False: a uniform B-subset.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    idx : ndarray of shape (B,), int64, values in [0, n)

    Notes
    -----
    Without replacement every one of the ``C(n, B)`` subsets is equally likely; with
    replacement every one of the ``n^B`` ordered tuples is. Derived in chapter 3.

    Examples
    --------
    >>> idx = sample_indices(10, 4, replace=False, rng=0)
    >>> idx.shape, len(set(idx.tolist()))
    ((4,), 4)
    """
    n = positive_int(n, "n")
    B = _batch_size(n, B, replace)
    return _sample(n, B, replace, np.random.default_rng(rng)).astype(np.int64)


def fit_power_law(B, v):
    """Fit ``v = c * B**slope`` by least squares on log-log axes.

    Parameters
    ----------
    B : array_like of shape (k,), positive, at least two distinct values
        Batch sizes.
    v : array_like of shape (k,), positive
        Variances measured at those batch sizes.

    Returns
    -------
    slope : float
        -1 for the 1/B law.
    intercept : float
        ``log(c)``, natural logarithm.

    Notes
    -----
    Minimizes ``sum_k (log v_k - slope * log B_k - intercept)^2``. Derived in chapter 3.

    Examples
    --------
    >>> B = np.array([1, 2, 4, 8])
    >>> slope, intercept = fit_power_law(B, 3.0 / B)
    >>> round(slope, 12), round(float(np.exp(intercept)), 12)
    (-1.0, 3.0)
    """
    B, v = _positive_vector(B, "B"), _positive_vector(v, "v")
    if B.shape != v.shape:
        raise ValueError(f"B and v must have the same shape, got {B.shape} and {v.shape}")
    if np.unique(B).size < 2:
        raise ValueError("B must contain at least two distinct batch sizes")
    slope, intercept = np.polyfit(np.log(B), np.log(v), deg=1)
    return float(slope), float(intercept)


def _positive_vector(value, name):
    value = np.asarray(value)
    if value.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {value.dtype}")
    if value.ndim != 1 or not np.all(np.isfinite(value) & (value > 0)):
        raise ValueError(f"{name} must have shape (k,) with finite positive entries")
    return value.astype(np.float64)
