"""The batch normalization layer: parameters, running statistics, train and eval modes.

Chapters 6 and 7. The arithmetic is the kernels of `bnlab.batchnorm`; this module adds the state
a network keeps between batches. Layout as in `bnlab.batchnorm`.
"""

import numpy as np

from bnlab._validate import (
    batch_input,
    float_dtype,
    nonnegative_float,
    one_of,
    positive_int,
    unit_interval,
)
from bnlab.batchnorm import CONVENTIONS, backward, forward, inference, update_running


class BatchNorm:
    """A batch normalization layer with running statistics, train and eval modes.

    Chapters 6 and 7. Defaults reproduce ``torch.nn.BatchNorm1d/2d/3d`` (float64) in train and
    eval mode, step after step.

    Parameters
    ----------
    num_features : int
        D for (N, D) input, C for (N, C, *spatial) input.
    eps : float, default 1e-5
    momentum : float in [0, 1] or None, default 0.1
        Running-average weight as ``convention`` defines it. None: cumulative moving average,
        every batch weighted equally (torch's ``momentum=None``).
    convention : {"torch", "keras"}, default "torch"
        ``"keras"`` reads momentum as the weight of the old value, like
        ``keras.layers.BatchNormalization`` (whose defaults are momentum=0.99, epsilon=1e-3).
    unbiased_running_var : bool or None, default None
        Track the unbiased (n - 1) batch variance. None follows the convention: True for torch,
        False for Keras. Normalization always uses the biased (1/n) batch variance.
    dtype : {np.float64, np.float32}, default np.float64
        dtype of the parameters and running statistics.

    Attributes
    ----------
    gamma, beta : ndarray of shape (C,)
        Learnable scale and shift, initially ones and zeros.
    running_mean, running_var : ndarray of shape (C,)
        Initially zeros and ones.
    num_batches_tracked : int
        Training-mode forward passes so far.
    training : bool
        True after construction and ``train()``, False after ``eval()``.
    dgamma, dbeta : ndarray of shape (C,) or None
        Set by :meth:`backward`.

    Examples
    --------
    >>> layer = BatchNorm(1)
    >>> y = layer(np.array([[2.0], [4.0], [6.0], [8.0]]))
    >>> layer.running_mean, layer.running_var, layer.num_batches_tracked
    (array([0.5]), array([1.56666667]), 1)
    >>> layer.eval()(np.array([[0.5]]))
    array([[0.]])
    """

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        convention="torch",
        unbiased_running_var=None,
        dtype=np.float64,
    ):
        self.num_features = positive_int(num_features, "num_features")
        self.eps = nonnegative_float(eps, "eps")
        self.momentum = None if momentum is None else unit_interval(momentum, "momentum")
        self.convention = one_of(convention, "convention", CONVENTIONS)
        if unbiased_running_var is None:
            unbiased_running_var = convention == "torch"
        self.unbiased_running_var = bool(unbiased_running_var)
        dtype = float_dtype(dtype, "dtype")
        self.gamma = np.ones(self.num_features, dtype)
        self.beta = np.zeros(self.num_features, dtype)
        self.running_mean = np.zeros(self.num_features, dtype)
        self.running_var = np.ones(self.num_features, dtype)
        self.num_batches_tracked = 0
        self.training = True
        self.dgamma = self.dbeta = None
        self._cache = None

    @classmethod
    def from_torch(cls, layer):
        """An eval-mode copy of a torch BN layer's eps, running statistics and parameters, float64.

        Chapter 7 folds a trained torch network's BN with it. ``layer`` is a
        ``torch.nn.BatchNorm1d/2d/3d`` with ``affine=True`` and ``track_running_stats=True``.

        Examples
        --------
        >>> import torch
        >>> ours = BatchNorm.from_torch(torch.nn.BatchNorm1d(3, eps=1e-3))
        >>> ours.eps, ours.training, ours.running_var
        (0.001, False, array([1., 1., 1.]))
        """
        ours = cls(layer.num_features, eps=layer.eps).eval()
        ours.running_mean = layer.running_mean.detach().double().numpy().copy()
        ours.running_var = layer.running_var.detach().double().numpy().copy()
        ours.gamma = layer.weight.detach().double().numpy().copy()
        ours.beta = layer.bias.detach().double().numpy().copy()
        return ours

    def __repr__(self):
        return (
            f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"convention={self.convention!r}, training={self.training})"
        )

    def train(self, mode=True):
        """Switch to training mode (batch statistics), or eval mode if ``mode`` is False."""
        self.training = bool(mode)
        self._cache = None
        return self

    def eval(self):
        """Switch to eval mode: normalize with the running statistics, which stay frozen."""
        return self.train(False)

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        """Normalize ``x`` of shape (N, C, ...); in training mode also update the running stats."""
        x = batch_input(x)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"x must have num_features={self.num_features} entries on axis 1, got {x.shape}"
            )
        if not self.training:
            return inference(
                x, self.running_mean, self.running_var, self.gamma, self.beta, self.eps
            )
        y, self._cache = forward(x, self.gamma, self.beta, self.eps)
        self.num_batches_tracked += 1
        momentum = self.momentum
        if momentum is None:  # cumulative average: the t-th batch gets weight 1/t
            new_weight = 1.0 / self.num_batches_tracked
            momentum = new_weight if self.convention == "torch" else 1.0 - new_weight
        self.running_mean, self.running_var = update_running(
            self.running_mean,
            self.running_var,
            self._cache.mu,
            self._cache.var,
            x.size // x.shape[1],
            momentum,
            self.convention,
            self.unbiased_running_var,
        )
        return y

    def backward(self, dy):
        """Return dx for the last training-mode forward pass; store ``dgamma`` and ``dbeta``."""
        if not self.training:
            raise RuntimeError("BatchNorm.backward needs training mode; call .train() first")
        if self._cache is None:
            raise RuntimeError("BatchNorm.backward needs a training-mode forward pass first")
        dx, self.dgamma, self.dbeta = backward(dy, self._cache)
        return dx
