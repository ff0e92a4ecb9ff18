"""Moments of data: mean, variance three ways, covariance, correlation, skewness and kurtosis.

Derived in chapter 1 (expectation, variance, Welford, merging) and chapter 2 (covariance and
higher moments). Every reduction accumulates in float64 whatever the input dtype and casts the
result back to the input dtype; only `var_textbook` works in the input dtype, on purpose.
"""

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from bnlab._validate import float_array, float_dtype, float_matrix, positive_int

ACC = np.float64


def _count(x, axis):
    """Number of values reduced over `axis` (int, tuple or None = all axes); must be >= 1."""
    axes = normalize_axis_tuple(tuple(range(x.ndim)) if axis is None else axis, x.ndim, "axis")
    n = int(np.prod([x.shape[a] for a in axes]))
    if n == 0:
        raise ValueError(f"x must have at least one value along axis={axis}, got shape {x.shape}")
    return n


def _ddof(ddof, n):
    ddof = positive_int(ddof, "ddof", minimum=0)
    if ddof >= n:
        raise ValueError(f"ddof must be smaller than the number of values n={n}, got ddof={ddof}")
    return ddof


def _central_moments(x, axis, *powers):
    """Population central moments mean((x - mean(x))**k) for k in `powers`, in float64."""
    d = x.astype(ACC) - np.mean(x, axis=axis, dtype=ACC, keepdims=True)
    return [np.mean(d**k, axis=axis) for k in powers]


def mean(x, axis=0):
    """Arithmetic mean along `axis`.

    Parameters
    ----------
    x : ndarray of shape (N, ...), float32 or float64
    axis : int, tuple of int or None, default 0
        Axis or axes to average over; None averages over all values.

    Returns
    -------
    mu : ndarray of x.shape without `axis`, dtype of x (a numpy scalar if that shape is ())

    Notes
    -----
    ``mu = (1/n) * sum_i x_i``, the sample analogue of the expectation E[X]. The sum is
    accumulated in float64. Derived in chapter 1.

    Examples
    --------
    >>> mean(np.array([[1.0, 2.0], [3.0, 6.0]]))
    array([2., 4.])
    """
    x = float_array(x, "x")
    _count(x, axis)
    return np.mean(x, axis=axis, dtype=ACC).astype(x.dtype)


def var(x, axis=0, ddof=0):
    """Variance along `axis` by the two-pass algorithm.

    Parameters
    ----------
    x : ndarray of shape (N, ...), float32 or float64
    axis : int, tuple of int or None, default 0
    ddof : int, default 0
        Delta degrees of freedom: divide by ``n - ddof`` (0: population/biased, 1: unbiased).

    Returns
    -------
    var : ndarray of x.shape without `axis`, dtype of x (a numpy scalar if that shape is ())

    Notes
    -----
    First pass ``mu = (1/n) sum_i x_i``, second pass ``var = sum_i (x_i - mu)**2 / (n - ddof)``.
    Subtracting the mean before squaring avoids the cancellation of `var_textbook`. Both passes
    accumulate in float64. Derived in chapter 1.

    Examples
    --------
    >>> x = 1e9 + np.array([1.0, 2.0, 3.0, 4.0])
    >>> float(var(x)), float(var(x, ddof=1))
    (1.25, 1.6666666666666667)
    """
    x = float_array(x, "x")
    n = _count(x, axis)
    ddof = _ddof(ddof, n)
    (m2,) = _central_moments(x, axis, 2)
    return (m2 * n / (n - ddof)).astype(x.dtype)


def var_textbook(x, axis=0, ddof=0):
    """Variance by the one-pass formula E[X^2] - E[X]^2, computed in x's dtype.

    It exists to show catastrophic cancellation; use `var` or `RunningMoments` instead.

    Parameters
    ----------
    x : ndarray of shape (N, ...), float32 or float64
    axis : int, tuple of int or None, default 0
    ddof : int, default 0

    Returns
    -------
    var : ndarray of x.shape without `axis`, dtype of x (a numpy scalar if that shape is ())

    Notes
    -----
    ``var = (mean(x**2) - mean(x)**2) * n / (n - ddof)``. When ``|mean| >> std`` both terms are
    huge and nearly equal, so their difference keeps only the rounding error of each:
    the result can be wildly wrong, even negative. Derived in chapter 1.

    Examples
    --------
    >>> x = 1e9 + np.array([1.0, 2.0, 3.0, 4.0])
    >>> float(var_textbook(x - 1e9)), bool(var_textbook(x) != 1.25)
    (1.25, True)
    """
    x = float_array(x, "x")
    n = _count(x, axis)
    ddof = _ddof(ddof, n)
    mean_sq = np.mean(x * x, axis=axis, dtype=x.dtype)
    mu = np.mean(x, axis=axis, dtype=x.dtype)
    return ((mean_sq - mu * mu) * x.dtype.type(n / (n - ddof))).astype(x.dtype)


class RunningMoments:
    """Count, mean and sum of squared deviations of a stream, updated batch by batch.

    Parameters
    ----------
    shape : tuple of int, default ()
        Shape of one observation; a batch has shape ``(n, *shape)``.
    dtype : float32 or float64, default float64
        dtype of the stored `mean` and `m2`. Each update is computed in float64.

    Attributes
    ----------
    count : int
        Number of observations seen.
    mean : ndarray of `shape`
        Their mean.
    m2 : ndarray of `shape`
        Their sum of squared deviations from `mean`.

    Notes
    -----
    Combining statistics ``(n_a, mean_a, m2_a)`` and ``(n_b, mean_b, m2_b)`` with
    ``n = n_a + n_b`` and ``delta = mean_b - mean_a`` (Chan, Golub and LeVeque)::

        mean = mean_a + delta * n_b / n
        m2   = m2_a + m2_b + delta**2 * n_a * n_b / n

    `update` computes a batch's statistics by two passes and combines them; for a batch of one
    observation this is exactly Welford's update ``mean += delta / n``,
    ``m2 += delta * (x - mean_new)``. `merge` combines two streams. Derived in chapter 1.

    Examples
    --------
    >>> rm = RunningMoments().update(np.array([1.0, 2.0])).update(np.array([3.0, 4.0]))
    >>> rm.count, float(rm.mean), float(rm.var()), float(rm.var(ddof=1))
    (4, 2.5, 1.25, 1.6666666666666667)
    """

    def __init__(self, shape=(), dtype=np.float64):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
        if not isinstance(shape, tuple):
            raise TypeError(f"shape must be a tuple of int, got {type(shape).__name__}")
        self.shape = tuple(positive_int(s, "shape", minimum=0) for s in shape)
        self.dtype = float_dtype(dtype, "dtype")
        self.count = 0
        self.mean = np.zeros(self.shape, self.dtype)
        self.m2 = np.zeros(self.shape, self.dtype)

    def __repr__(self):
        return f"RunningMoments(shape={self.shape}, dtype={self.dtype}, count={self.count})"

    @classmethod
    def from_batch(cls, batch):
        """Statistics of one batch of shape (n, *shape), in the batch's dtype.

        Examples
        --------
        >>> float(RunningMoments.from_batch(np.array([1.0, 2.0, 3.0, 4.0])).var())
        1.25
        """
        batch = float_array(batch, "batch")
        return cls(batch.shape[1:], batch.dtype).update(batch)

    def update(self, batch):
        """Add a batch of shape (n, *shape) to the statistics; returns self.

        Examples
        --------
        >>> RunningMoments((2,)).update(np.ones((3, 2))).count
        3
        """
        batch = float_array(batch, "batch")
        if batch.shape[1:] != self.shape:
            raise ValueError(f"batch must have shape (n, *{self.shape}), got {batch.shape}")
        if batch.shape[0] > 0:
            mean_b = np.mean(batch, axis=0, dtype=ACC)
            m2_b = np.sum((batch.astype(ACC) - mean_b) ** 2, axis=0)
            self._combine(batch.shape[0], mean_b, m2_b)
        return self

    def merge(self, other):
        """Add the statistics of another `RunningMoments` in place; returns self.

        Examples
        --------
        >>> a = RunningMoments.from_batch(np.array([1.0, 2.0]))
        >>> float(a.merge(RunningMoments.from_batch(np.array([3.0, 4.0]))).var())
        1.25
        """
        if not isinstance(other, RunningMoments):
            raise TypeError(f"other must be a RunningMoments, got {type(other).__name__}")
        if other.shape != self.shape:
            raise ValueError(f"other must have shape {self.shape}, got {other.shape}")
        if other.count > 0:
            self._combine(other.count, other.mean.astype(ACC), other.m2.astype(ACC))
        return self

    def _combine(self, n_b, mean_b, m2_b):
        n, mean, m2 = combine_moments(
            self.count, self.mean.astype(ACC), self.m2.astype(ACC), n_b, mean_b, m2_b
        )
        self.count, self.mean, self.m2 = n, mean.astype(self.dtype), m2.astype(self.dtype)

    def var(self, ddof=0):
        """Variance ``m2 / (count - ddof)``, an ndarray of `shape`.

        Examples
        --------
        >>> float(RunningMoments.from_batch(np.array([1.0, 3.0])).var(ddof=1))
        2.0
        """
        ddof = _ddof(ddof, self.count)
        return (self.m2 / (self.count - ddof)).astype(self.dtype)


def combine_moments(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Count, mean and sum of squared deviations of two batches taken together.

    Parameters
    ----------
    n_a, n_b : int
        Number of observations in each batch; at least one of them positive.
    mean_a, mean_b : ndarray or float
        Mean of each batch (same shape).
    m2_a, m2_b : ndarray or float
        Sum of squared deviations from its own mean, of each batch.

    Returns
    -------
    n : int
    mean, m2 : ndarray or float
        The statistics of the union, as if computed from all ``n_a + n_b`` values at once.

    Notes
    -----
    With ``n = n_a + n_b`` and ``delta = mean_b - mean_a`` (Chan, Golub and LeVeque)::

        mean = mean_a + delta * n_b / n
        m2   = m2_a + m2_b + delta**2 * n_a * n_b / n

    For ``n_b = 1`` (and ``m2_b = 0``) this is Welford's one-pass update. It is exact, so
    statistics computed on separate devices can be merged without losing anything (what a
    synchronized BN has to do). Derived in chapter 1.

    Examples
    --------
    >>> combine_moments(2, 1.5, 0.5, 2, 3.5, 0.5)   # [1, 2] and [3, 4]
    (4, 2.5, 5.0)
    """
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta**2 * (n_a * n_b / n)


def cov(X, ddof=1):
    """Covariance matrix of the columns of `X`.

    Parameters
    ----------
    X : ndarray of shape (N, D), float32 or float64
        Rows are observations, columns are variables.
    ddof : int, default 1

    Returns
    -------
    C : ndarray of shape (D, D), dtype of X
        Symmetric and positive semi-definite.

    Notes
    -----
    ``C = (X - mu).T @ (X - mu) / (N - ddof)`` with ``mu`` the column means, accumulated in
    float64. ``C[j, j]`` is ``var(X[:, j], ddof=ddof)``. Derived in chapter 2.

    Examples
    --------
    >>> cov(np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]))
    array([[1., 2.],
           [2., 4.]])
    """
    X = float_matrix(X, "X")
    ddof = _ddof(ddof, X.shape[0])
    Xc = X.astype(ACC) - np.mean(X, axis=0, dtype=ACC)
    C = Xc.T @ Xc / (X.shape[0] - ddof)
    return ((C + C.T) / 2).astype(X.dtype)


def corr(X):
    """Correlation matrix of the columns of `X`.

    Parameters
    ----------
    X : ndarray of shape (N, D), float32 or float64, N >= 2, no constant column

    Returns
    -------
    R : ndarray of shape (D, D), dtype of X
        Ones on the diagonal, entries in [-1, 1].

    Notes
    -----
    ``R[j, k] = C[j, k] / sqrt(C[j, j] * C[k, k])`` with ``C = cov(X)``; ddof cancels.
    Derived in chapter 2.

    Examples
    --------
    >>> corr(np.array([[0.0, 1.0], [1.0, -1.0], [2.0, -3.0]]))
    array([[ 1., -1.],
           [-1.,  1.]])
    """
    X = float_matrix(X, "X")
    C = cov(X.astype(ACC), ddof=0)
    std = np.sqrt(np.diag(C))
    if np.any(std == 0):
        raise ValueError(f"X has constant column(s) {np.flatnonzero(std == 0).tolist()}")
    R = np.clip(C / np.outer(std, std), -1.0, 1.0)
    np.fill_diagonal(R, 1.0)
    return R.astype(X.dtype)


def _standardized_moment(x, axis, k):
    x = float_array(x, "x")
    _count(x, axis)
    m2, mk = _central_moments(x, axis, 2, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m2 > 0, mk / m2 ** (k / 2), np.nan).astype(x.dtype)[()]


def skewness(x, axis=0):
    """Skewness along `axis`, population (biased) estimator.

    Parameters
    ----------
    x : ndarray of shape (N, ...), float32 or float64
    axis : int, tuple of int or None, default 0

    Returns
    -------
    g1 : ndarray of x.shape without `axis`, dtype of x; nan where x is constant

    Notes
    -----
    ``g1 = m3 / m2**1.5`` with ``m_k = mean((x - mean(x))**k)``, the same as
    ``scipy.stats.skew(x, bias=True)``. Derived in chapter 2.

    Examples
    --------
    >>> round(float(skewness(np.array([0.0, 0.0, 0.0, 1.0]))), 6)  # 2 / sqrt(3)
    1.154701
    """
    return _standardized_moment(x, axis, 3)


def kurtosis(x, axis=0, excess=True):
    """Kurtosis along `axis`, population (biased) estimator.

    Parameters
    ----------
    x : ndarray of shape (N, ...), float32 or float64
    axis : int, tuple of int or None, default 0
    excess : bool, default True
        Subtract 3, the kurtosis of a normal distribution (Fisher); False gives Pearson's.

    Returns
    -------
    g2 : ndarray of x.shape without `axis`, dtype of x; nan where x is constant

    Notes
    -----
    ``g2 = m4 / m2**2 (- 3 if excess)`` with ``m_k = mean((x - mean(x))**k)``, the same as
    ``scipy.stats.kurtosis(x, fisher=excess, bias=True)``. Derived in chapter 2.

    Examples
    --------
    >>> x = np.array([-1.0, 1.0])
    >>> float(kurtosis(x)), float(kurtosis(x, excess=False))
    (-2.0, 1.0)
    """
    if not isinstance(excess, (bool, np.bool_)):
        raise TypeError(f"excess must be a bool, got {type(excess).__name__}")
    g2 = _standardized_moment(x, axis, 4)
    return g2 - g2.dtype.type(3) if excess else g2
