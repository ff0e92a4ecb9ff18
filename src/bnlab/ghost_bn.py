"""Ghost batch normalization (chapter 9): BN with the statistics of each sub-batch.

What local BN computes when a batch is split over processes, and what gradient accumulation
over micro-batches computes: `ghost_batch_norm` on tensors, `StackedGhostBatchNorm` as a layer of
a `bnlab.stacked_models.StackedMLP` (used by `bnlab.dataparallel` for ``norm="ghost"``).
"""

import torch
from torch import nn
from torch.nn import functional as F


def ghost_batch_norm(
    x,
    ghost_size,
    gamma=None,
    beta=None,
    eps=1e-5,
    running_mean=None,
    running_var=None,
    momentum=0.1,
):
    """Training-mode BN with the statistics of each ghost batch of `ghost_size` examples.

    Derived in chapter 9. It is what local BN computes when the batch is split over processes
    with `ghost_size` examples each, and what gradient accumulation over micro-batches of
    `ghost_size` computes: ``x[:g]`` is normalized with its own statistics, ``x[g:2g]`` with its
    own, and so on (the last ghost batch may be smaller). Differentiable.

    Parameters
    ----------
    x : Tensor of shape (N, C) or (N, C, *spatial)
    ghost_size : int, >= 1
        Examples per ghost batch; each ghost batch needs at least 2 values per channel.
    gamma, beta : Tensor of shape (C,) or None
    eps : float, default 1e-5
    running_mean, running_var : Tensor of shape (C,) or None
        If given, updated in place once per ghost batch, in order (torch's convention, with
        `momentum`), as k micro-batches of gradient accumulation would update them.
    momentum : float, default 0.1

    Returns
    -------
    y : Tensor, shape and dtype of x

    Examples
    --------
    >>> x = torch.tensor([[1.0], [3.0], [10.0], [30.0]])
    >>> [round(v, 4) for v in ghost_batch_norm(x, 2).squeeze(1).tolist()]
    [-1.0, 1.0, -1.0, 1.0]
    """
    if isinstance(ghost_size, bool) or not isinstance(ghost_size, int) or ghost_size < 1:
        raise ValueError(f"ghost_size must be an integer >= 1, got {ghost_size!r}")
    return torch.cat(
        [
            F.batch_norm(g, running_mean, running_var, gamma, beta, True, momentum, eps)
            for g in x.split(ghost_size)
        ]
    )


class StackedGhostBatchNorm(nn.Module):
    """A stacked BN layer with the statistics of ghost batches (`ghost_batch_norm`).

    It wraps a `bnlab.stacked_models.StackedBatchNorm` and uses its parameters and buffers.

    In eval mode it normalizes with the running statistics, like any BN layer.
    """

    def __init__(self, stacked, ghost_size):
        super().__init__()
        self.stacked, self.ghost_size = stacked, ghost_size

    def forward(self, x):
        if not self.training:
            return self.stacked(x)
        s = self.stacked
        M, N, D = x.shape
        y = ghost_batch_norm(
            x.transpose(0, 1).reshape(N, M * D),
            self.ghost_size,
            s.weight.reshape(-1),
            s.bias.reshape(-1),
            s.eps,
            s.running_mean.view(-1),
            s.running_var.view(-1),
            s.momentum,
        )
        return y.reshape(N, M, D).transpose(0, 1)
