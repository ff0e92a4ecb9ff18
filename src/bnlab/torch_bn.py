"""torch's training-mode batch norm on numpy arrays: the oracle of `bnlab.batchnorm`.

Chapters 4 and 5 compare the kernels with it, the tests use it as their independent reference
and the benchmarks time it beside them. Layout as in `bnlab.batchnorm`.
"""

import numpy as np
import torch
import torch.nn.functional as F


class TorchBN:
    """``torch.nn.functional.batch_norm`` in training mode on numpy inputs, with its autograd.

    Chapters 4 (forward) and 5 (backward). The forward pass runs once, at construction, and its
    graph is kept, so :meth:`backward` can be called (and timed) again and again.

    Parameters
    ----------
    x : ndarray of shape (N, D) or (N, C, *spatial), float32 or float64
    gamma, beta : ndarray of shape (D,) or (C,), the dtype of ``x``
    eps : float, default 1e-5

    Attributes
    ----------
    y : ndarray, same shape and dtype as ``x``
        torch's output for the batch statistics of ``x``.

    Examples
    --------
    Worked example 1 of chapter 4; a constant upstream gradient leaves nothing for dx:

    >>> ref = TorchBN(np.array([[2.0], [4.0], [6.0], [8.0]]), np.ones(1), np.zeros(1))
    >>> np.round(ref.y.ravel(), 3)
    array([-1.342, -0.447,  0.447,  1.342])
    >>> dx, dgamma, dbeta = ref.backward(np.ones((4, 1)))
    >>> dx.ravel(), dgamma, dbeta
    (array([0., 0., 0., 0.]), array([0.]), array([4.]))
    """

    def __init__(self, x, gamma, beta, eps=1e-5):
        # copies, so that the caller may change its arrays afterwards
        self.inputs = tuple(
            torch.tensor(np.asarray(a), requires_grad=True) for a in (x, gamma, beta)
        )
        self.eps = eps
        self._y = self._forward()
        self.y = self._y.detach().numpy()

    def _forward(self):
        x, gamma, beta = self.inputs
        return F.batch_norm(x, None, None, weight=gamma, bias=beta, training=True, eps=self.eps)

    def forward(self):
        """A fresh forward pass without autograd: `y` again (what the benchmarks time)."""
        with torch.no_grad():
            return self._forward().numpy()

    def backward(self, dy):
        """``(dx, dgamma, dbeta)`` for the upstream gradient ``dy`` (shape and dtype of ``x``)."""
        grads = torch.autograd.grad(self._y, self.inputs, torch.as_tensor(dy), retain_graph=True)
        return tuple(g.numpy() for g in grads)
