"""Folding an eval-mode batch norm into the linear or convolution layer before it (chapter 7)."""

import numpy as np

from bnlab._validate import float_array, param_array
from bnlab.batchnorm import inference_affine
from bnlab.layer import BatchNorm


def fold_into_linear(W, b, bn):
    r"""Fold an eval-mode BatchNorm into the linear or convolution layer before it.

    Derived in chapter 7.

    Parameters
    ----------
    W : ndarray of shape (out, in) or (out, in, kh, kw)
        torch's layout for ``nn.Linear`` and ``nn.Conv2d`` weights (any (out, ...) works).
    b : ndarray of shape (out,) or None
        The layer's bias; None means no bias.
    bn : BatchNorm
        With ``num_features == out``; its running statistics, gamma, beta and eps are used.

    Returns
    -------
    W_folded : ndarray, shape and dtype of ``W``
    b_folded : ndarray of shape (out,)

    Notes
    -----
    With (scale, shift) from :func:`inference_affine`, each output row k of W is scaled:

    .. math::
        W'_k = \text{scale}_k W_k, \qquad
        b'_k = \text{scale}_k\, b_k + \text{shift}_k = (b_k - \mu_{run,k})\,\text{scale}_k + \beta_k

    so ``x @ W_folded.T + b_folded == bn.eval()(x @ W.T + b)`` (for a convolution, conv with
    the folded weights and bias equals conv followed by BN).

    Examples
    --------
    >>> layer = BatchNorm(2).eval()
    >>> layer.running_mean, layer.running_var = np.array([1.0, 2.0]), np.array([4.0, 9.0])
    >>> layer.eps = 0.0
    >>> W_f, b_f = fold_into_linear(np.ones((2, 3)), None, layer)
    >>> W_f
    array([[0.5       , 0.5       , 0.5       ],
           [0.33333333, 0.33333333, 0.33333333]])
    >>> b_f
    array([-0.5       , -0.66666667])
    """
    if not isinstance(bn, BatchNorm):
        raise TypeError(f"bn must be a bnlab.layer.BatchNorm, got {type(bn).__name__}")
    W = float_array(W, "W", min_ndim=2)
    if W.shape[0] != bn.num_features:
        raise ValueError(
            f"W must have bn.num_features={bn.num_features} rows (axis 0), got shape {W.shape}"
        )
    b = np.zeros(W.shape[0], W.dtype) if b is None else param_array(b, "b", (W.shape[0],), W.dtype)
    scale, shift = inference_affine(bn.running_mean, bn.running_var, bn.gamma, bn.beta, bn.eps)
    scale, shift = scale.astype(W.dtype), shift.astype(W.dtype)
    return W * scale.reshape((-1,) + (1,) * (W.ndim - 1)), scale * b + shift
