"""Batch normalization kernels in numpy: pure functions of arrays, no state.

Training mode, forward and backward (chapters 4 and 5); the running-average step, inference and
its affine form (chapter 6). The layer that keeps running statistics is `bnlab.layer`; folding
into the previous layer is `bnlab.folding`.

Layout: ``x`` of shape (N, D) is normalized per feature; ``x`` of shape (N, C, *spatial) per
channel, reducing over every axis except axis 1 (as ``torch.nn.BatchNorm1d/2d/3d`` do).
Per-feature arrays (``gamma``, ``beta``, ``mu``, ``var``, ...) have shape (D,) or (C,).
"""

from typing import NamedTuple

import numpy as np

from bnlab._validate import (
    batch_input,
    float_array,
    nonnegative_float,
    one_of,
    param_array,
    per_channel,
    positive_int,
    unit_interval,
)

CONVENTIONS = ("torch", "keras")


class Cache(NamedTuple):
    """What the forward pass keeps for the backward pass (chapter 5).

    ``x``, ``x_hat`` have the shape of the input; ``mu``, ``var``, ``inv_std``, ``gamma`` have
    shape (C,); ``axes`` are the reduced axes, ``(0,)`` for (N, D) and ``(0, 2, 3, ...)`` otherwise.
    """

    x: np.ndarray
    mu: np.ndarray
    var: np.ndarray
    eps: float
    inv_std: np.ndarray
    x_hat: np.ndarray
    gamma: np.ndarray
    axes: tuple


def _reduce_axes(ndim):
    """Every axis except axis 1, the feature/channel axis."""
    return (0, *range(2, ndim))


def _per_feature(shape, dtype, **arrays):
    """Check that every named array has `shape`; return them cast to `dtype`, in order."""
    return [param_array(value, name, shape, dtype) for name, value in arrays.items()]


def batch_stats(x):
    r"""Biased batch mean and variance per feature (N, D) or per channel (N, C, *spatial).

    Derived in chapter 4.

    Parameters
    ----------
    x : ndarray of shape (N, D) or (N, C, *spatial), float32 or float64

    Returns
    -------
    mu : ndarray of shape (D,) or (C,)
        Mean over every axis except axis 1.
    var : ndarray of shape (D,) or (C,)
        Biased (1/m) variance, two-pass: mean of the squared deviations from ``mu``.

    Notes
    -----
    With m = N * prod(spatial) values per channel,

    .. math:: \mu = \frac{1}{m}\sum_i x_i, \qquad \sigma^2 = \frac{1}{m}\sum_i (x_i-\mu)^2

    Examples
    --------
    >>> batch_stats(np.array([[2.0], [4.0], [6.0], [8.0]]))
    (array([5.]), array([5.]))
    """
    x = batch_input(x)
    axes = _reduce_axes(x.ndim)
    mu = x.mean(axis=axes)
    var = ((x - per_channel(mu, x.ndim)) ** 2).mean(axis=axes)
    return mu, var


def forward(x, gamma, beta, eps=1e-5):
    r"""Batch normalization forward pass in training mode (batch statistics).

    Derived in chapter 4.

    Parameters
    ----------
    x : ndarray of shape (N, D) or (N, C, *spatial), float32 or float64
        A mini-batch; statistics are per feature (N, D) or per channel (N, C, ...).
    gamma, beta : ndarray of shape (D,) or (C,)
        Learnable scale and shift; cast to the dtype of ``x``.
    eps : float, default 1e-5
        Added to the variance before the square root (torch's default).

    Returns
    -------
    y : ndarray, same shape and dtype as ``x``
    cache : Cache
        ``x, mu, var, eps, inv_std, x_hat, gamma, axes`` for :func:`backward`.

    Raises
    ------
    ValueError
        If a channel has fewer than 2 values (N * prod(spatial) < 2): the batch variance
        would be 0 and every output would equal ``beta`` (torch refuses this too).

    Notes
    -----
    The four steps, with the biased (1/m) batch variance:

    .. math::
        \mu = \tfrac{1}{m}\textstyle\sum_i x_i,\quad
        \sigma^2 = \tfrac{1}{m}\textstyle\sum_i (x_i-\mu)^2,\quad
        \hat x_i = \frac{x_i-\mu}{\sqrt{\sigma^2+\varepsilon}},\quad
        y_i = \gamma \hat x_i + \beta

    Examples
    --------
    Worked example 1 (one feature, eps = 0):

    >>> x = np.array([[2.0], [4.0], [6.0], [8.0]])
    >>> y, cache = forward(x, np.ones(1), np.zeros(1), eps=0.0)
    >>> cache.mu, cache.var
    (array([5.]), array([5.]))
    >>> np.round(y.ravel(), 3)
    array([-1.342, -0.447,  0.447,  1.342])
    """
    x = batch_input(x)
    gamma, beta = _per_feature((x.shape[1],), x.dtype, gamma=gamma, beta=beta)
    eps = nonnegative_float(eps, "eps")
    if x.size // x.shape[1] < 2:
        raise ValueError(
            "x must have at least 2 values per channel in training mode "
            f"(N * prod(spatial) >= 2), got shape {x.shape}"
        )
    mu, var = batch_stats(x)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - per_channel(mu, x.ndim)) * per_channel(inv_std, x.ndim)
    y = per_channel(gamma, x.ndim) * x_hat + per_channel(beta, x.ndim)
    return y, Cache(x, mu, var, eps, inv_std, x_hat, gamma, _reduce_axes(x.ndim))


def _upstream(dy, cache):
    dy = float_array(dy, "dy", min_ndim=2)
    if dy.shape != cache.x.shape:
        raise ValueError(f"dy must have the shape of the cached x {cache.x.shape}, got {dy.shape}")
    return dy.astype(cache.x.dtype, copy=False)


def backward(dy, cache):
    r"""Batch normalization backward pass by the compact formula.

    Derived in chapter 5.

    Parameters
    ----------
    dy : ndarray, same shape as the forward input
        Upstream gradient dL/dy.
    cache : Cache
        Returned by :func:`forward`.

    Returns
    -------
    dx : ndarray, same shape and dtype as the forward input
    dgamma, dbeta : ndarray of shape (D,) or (C,)

    Notes
    -----
    With m values per channel and sums over the batch (and spatial) axes,

    .. math::
        \frac{\partial L}{\partial x_i} = \frac{\gamma}{m\sqrt{\sigma^2+\varepsilon}}
        \Big(m\,dy_i - \sum_j dy_j - \hat x_i \sum_j dy_j \hat x_j\Big)

    so dx is ``gamma * inv_std`` times dy with its mean and its component along x_hat
    removed; ``sum(dy)`` and ``sum(dy * x_hat)`` are dbeta and dgamma.

    Examples
    --------
    Worked example 3: dy lies entirely along x_hat, so nothing is left of it.

    >>> y, cache = forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), eps=0.0)
    >>> dx, dgamma, dbeta = backward(np.array([[0.5], [-0.5]]), cache)
    >>> dx.ravel(), dgamma, dbeta
    (array([0., 0.]), array([-1.]), array([0.]))
    """
    dy = _upstream(dy, cache)
    x_hat, axes, ndim = cache.x_hat, cache.axes, dy.ndim
    m = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    scale = per_channel(cache.gamma * cache.inv_std / m, ndim)
    dx = scale * (m * dy - per_channel(dbeta, ndim) - x_hat * per_channel(dgamma, ndim))
    return dx, dgamma, dbeta


def backward_staged(dy, cache):
    """Batch normalization backward pass, node by node through the computation graph.

    Derived in chapter 5.

    Parameters
    ----------
    dy, cache
        As for :func:`backward`.

    Returns
    -------
    dx, dgamma, dbeta
        As from :func:`backward` (equal up to rounding).

    Notes
    -----
    The forward pass as a graph, one node per line::

        mu      = mean(x)
        xc      = x - mu
        var     = mean(xc ** 2)
        inv_std = (var + eps) ** -0.5
        x_hat   = xc * inv_std
        y       = gamma * x_hat + beta

    Walking it bottom-up, each node multiplies the gradient it receives by its local
    derivative. ``xc`` feeds ``var`` and ``x_hat``, and ``x`` feeds ``mu`` and ``xc``, so their
    gradients are sums over two paths. :func:`backward` is these lines simplified.

    Examples
    --------
    >>> y, cache = forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), eps=0.0)
    >>> dx, dgamma, dbeta = backward_staged(np.array([[0.5], [-0.5]]), cache)
    >>> dx.ravel(), dgamma, dbeta
    (array([0., 0.]), array([-1.]), array([0.]))
    """
    dy = _upstream(dy, cache)
    axes, ndim = cache.axes, dy.ndim
    m = dy.size // dy.shape[1]
    gamma, mu, inv_std = (per_channel(v, ndim) for v in (cache.gamma, cache.mu, cache.inv_std))
    xc = cache.x - mu
    # y = gamma * x_hat + beta
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * cache.x_hat).sum(axis=axes)
    dx_hat = dy * gamma
    # x_hat = xc * inv_std
    dinv_std = (dx_hat * xc).sum(axis=axes, keepdims=True)
    dxc = dx_hat * inv_std
    # inv_std = (var + eps) ** -0.5
    dvar = -0.5 * inv_std**3 * dinv_std
    # var = mean(xc ** 2): the second path into xc
    dxc = dxc + 2.0 * xc / m * dvar
    # xc = x - mu
    dmu = -dxc.sum(axis=axes, keepdims=True)
    # mu = mean(x): the second path into x
    dx = dxc + dmu / m
    return dx, dgamma, dbeta


def update_running(
    running_mean,
    running_var,
    batch_mean,
    batch_var,
    n,
    momentum=0.1,
    convention="torch",
    unbiased=None,
):
    r"""One exponential-moving-average step of the running statistics (pure function).

    Derived in chapter 6.

    Parameters
    ----------
    running_mean, running_var : ndarray of shape (C,)
        The current running statistics; the result has their dtype.
    batch_mean, batch_var : ndarray of shape (C,)
        Statistics of the current batch, ``batch_var`` biased (1/n) as :func:`batch_stats`.
    n : int
        Values per feature/channel in the batch (N * prod(spatial)).
    momentum : float in [0, 1], default 0.1
        Meaning depends on ``convention``.
    convention : {"torch", "keras"}, default "torch"
        ``"torch"``: momentum is the weight of the NEW batch (torch default 0.1).
        ``"keras"``: momentum is the weight of the OLD value (Keras default 0.99).
    unbiased : bool or None, default None
        Multiply ``batch_var`` by n / (n - 1) first. None follows the convention: True for
        torch (which tracks the unbiased variance), False for Keras (which tracks the biased one).

    Returns
    -------
    new_mean, new_var : ndarray of shape (C,)

    Notes
    -----
    .. math::
        \text{torch: } r \leftarrow (1-m)\,r + m\,b \qquad
        \text{keras: } r \leftarrow m\,r + (1-m)\,b

    so torch's momentum 0.1 and Keras's 0.99 differ by more than notation: they weight the
    new batch by 0.1 and 0.01.

    Examples
    --------
    >>> update_running(np.zeros(1), np.ones(1), np.array([5.0]), np.array([5.0]), n=4)
    (array([0.5]), array([1.56666667]))
    >>> update_running(np.zeros(1), np.ones(1), np.array([5.0]), np.array([5.0]), n=4,
    ...                momentum=0.99, convention="keras")
    (array([0.05]), array([1.04]))
    """
    running_mean = float_array(running_mean, "running_mean")
    shape, dtype = running_mean.shape, running_mean.dtype
    running_var, batch_mean, batch_var = _per_feature(
        shape, dtype, running_var=running_var, batch_mean=batch_mean, batch_var=batch_var
    )
    momentum = unit_interval(momentum, "momentum")
    convention = one_of(convention, "convention", CONVENTIONS)
    unbiased = convention == "torch" if unbiased is None else bool(unbiased)
    n = positive_int(n, "n", minimum=2 if unbiased else 1)
    if unbiased:
        batch_var = batch_var * (n / (n - 1))
    if convention == "torch":
        return (
            (1 - momentum) * running_mean + momentum * batch_mean,
            (1 - momentum) * running_var + momentum * batch_var,
        )
    return (
        momentum * running_mean + (1 - momentum) * batch_mean,
        momentum * running_var + (1 - momentum) * batch_var,
    )


def inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    r"""Batch normalization in inference (eval) mode: the running statistics replace the batch's.

    Derived in chapter 6. Works for any batch size, including one example.

    Parameters
    ----------
    x : ndarray of shape (N, D) or (N, C, *spatial), float32 or float64
    running_mean, running_var, gamma, beta : ndarray of shape (D,) or (C,)
    eps : float, default 1e-5

    Returns
    -------
    y : ndarray, same shape and dtype as ``x``

    Notes
    -----
    .. math:: y = \gamma\,\frac{x - \mu_{run}}{\sqrt{\sigma^2_{run} + \varepsilon}} + \beta

    Each output depends on its own input only, so the result does not depend on the batch.

    Examples
    --------
    >>> inference(np.array([[7.0]]), np.array([5.0]), np.array([4.0]), np.ones(1), np.zeros(1),
    ...           eps=0.0)
    array([[1.]])
    """
    x = batch_input(x)
    params = _per_feature(
        (x.shape[1],),
        x.dtype,
        running_mean=running_mean,
        running_var=running_var,
        gamma=gamma,
        beta=beta,
    )
    mean, var, gamma, beta = (per_channel(v, x.ndim) for v in params)
    eps = nonnegative_float(eps, "eps")
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def inference_affine(running_mean, running_var, gamma, beta, eps=1e-5):
    r"""Batch normalization at inference as one affine map per feature: y = scale * x + shift.

    Derived in chapter 6; used to fold BN into the previous layer in chapter 7.

    Parameters
    ----------
    running_mean, running_var, gamma, beta : ndarray of shape (C,)
    eps : float, default 1e-5

    Returns
    -------
    scale, shift : ndarray of shape (C,), dtype of ``running_mean``

    Notes
    -----
    .. math::
        \text{scale} = \frac{\gamma}{\sqrt{\sigma^2_{run}+\varepsilon}}, \qquad
        \text{shift} = \beta - \mu_{run}\,\text{scale}

    Examples
    --------
    >>> inference_affine(np.array([5.0]), np.array([4.0]), np.array([2.0]), np.array([1.0]),
    ...                  eps=0.0)
    (array([1.]), array([-4.]))
    """
    running_mean = float_array(running_mean, "running_mean")
    running_var, gamma, beta = _per_feature(
        running_mean.shape, running_mean.dtype, running_var=running_var, gamma=gamma, beta=beta
    )
    eps = nonnegative_float(eps, "eps")
    scale = gamma / np.sqrt(running_var + eps)
    return scale, beta - running_mean * scale
