"""LayerNorm and GroupNorm forward passes: the same standardization over different axes.

Batch norm (:mod:`bnlab.batchnorm`) averages over the batch; these average within each sample,
so they behave the same for a batch of one and need no running statistics (chapter 7).
"""

import numpy as np

from bnlab._validate import batch_input, nonnegative_float, param_array, per_channel, positive_int


def _standardize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) with the biased mean and variance over `axes` of each slice."""
    xc = x - x.mean(axis=axes, keepdims=True)
    var = (xc**2).mean(axis=axes, keepdims=True)
    return xc / np.sqrt(var + eps)


def layer_norm(x, gamma, beta, eps=1e-5):
    r"""Layer normalization: standardize each sample over all its features.

    Chapter 7. Equals ``torch.nn.functional.layer_norm(x, x.shape[1:], gamma, beta, eps)``.

    Parameters
    ----------
    x : ndarray of shape (N, *features), float32 or float64
        At least 2-D; every axis except 0 is normalized.
    gamma, beta : ndarray of shape ``x.shape[1:]``
        Elementwise scale and shift, cast to the dtype of ``x``.
    eps : float, default 1e-5

    Returns
    -------
    y : ndarray, same shape and dtype as ``x``

    Notes
    -----
    For each sample n, with mean and biased variance over its F = prod(x.shape[1:]) entries,

    .. math::
        y_{n,f} = \gamma_f \frac{x_{n,f} - \mu_n}{\sqrt{\sigma_n^2 + \varepsilon}} + \beta_f

    Examples
    --------
    The second sample is twice the first: after normalization they are equal.

    >>> x = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    >>> np.round(layer_norm(x, np.ones(3), np.zeros(3), eps=0.0), 4)
    array([[-1.2247,  0.    ,  1.2247],
           [-1.2247,  0.    ,  1.2247]])
    """
    x = batch_input(x)
    gamma = param_array(gamma, "gamma", x.shape[1:], x.dtype)
    beta = param_array(beta, "beta", x.shape[1:], x.dtype)
    eps = nonnegative_float(eps, "eps")
    x_hat = _standardize(x, tuple(range(1, x.ndim)), eps)
    return gamma * x_hat + beta


def group_norm(x, num_groups, gamma, beta, eps=1e-5):
    r"""Group normalization: standardize each sample over groups of channels (and space).

    Chapter 7. Equals ``torch.nn.functional.group_norm(x, num_groups, gamma, beta, eps)``.
    ``num_groups=1`` normalizes over the whole sample like LayerNorm; ``num_groups=C`` is
    instance normalization.

    Parameters
    ----------
    x : ndarray of shape (N, C, *spatial), float32 or float64
    num_groups : int
        Number of groups G; must divide C. Group g holds channels g*C/G ... (g+1)*C/G - 1.
    gamma, beta : ndarray of shape (C,)
        Per-channel scale and shift, cast to the dtype of ``x``.
    eps : float, default 1e-5

    Returns
    -------
    y : ndarray, same shape and dtype as ``x``

    Notes
    -----
    For sample n and group g, the mean and biased variance are taken over the C/G channels of
    the group and all spatial positions; then ``y = gamma_c * x_hat + beta_c`` per channel c.

    Examples
    --------
    >>> x = np.array([[1.0, 3.0, 10.0, 20.0]])
    >>> group_norm(x, 2, np.ones(4), np.zeros(4), eps=0.0)
    array([[-1.,  1., -1.,  1.]])
    """
    x = batch_input(x)
    n, c = x.shape[:2]
    num_groups = positive_int(num_groups, "num_groups")
    if c % num_groups:
        raise ValueError(f"num_groups must divide the number of channels C={c}, got {num_groups}")
    gamma = param_array(gamma, "gamma", (c,), x.dtype)
    beta = param_array(beta, "beta", (c,), x.dtype)
    eps = nonnegative_float(eps, "eps")
    # one row per (sample, group): the group's channels and positions side by side
    x_hat = _standardize(x.reshape(n, num_groups, -1), 2, eps).reshape(x.shape)
    return per_channel(gamma, x.ndim) * x_hat + per_channel(beta, x.ndim)
