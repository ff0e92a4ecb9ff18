"""Synchronized BN on each process's slice of one batch, for comparison with the whole batch.

Chapter 9 and the tests cut a batch into one slice per process (`SliceCase`) and run
`bnlab.distributed.SyncBatchNorm` and `bnlab.distributed.sync_batch_norm` on the slices in real
processes (`batch_norm_on_slices`, started by `bnlab.processes.run_distributed`); the results
are compared with single-process BN on the whole batch. The function run by the processes must
be importable, hence this module.
"""

from dataclasses import dataclass

import torch

from bnlab.distributed import SyncBatchNorm, sync_batch_norm


@dataclass(frozen=True)
class SliceCase:
    """A batch cut into one slice per process, and what to do with it, for `batch_norm_on_slices`.

    Attributes
    ----------
    xs : tuple of Tensor, one per process, each of shape (T, N_k, C, *spatial)
        T training steps; process k's slice of step t is ``xs[k][t]``.
    dys : tuple of Tensor, shapes of `xs`
        The upstream gradient dL/dy of each slice and step.
    gamma, beta : Tensor of shape (C,) or None
        None: the layer's own initial values, 1 and 0 (C then comes from each slice).
    eps, momentum : float
    x_eval : tuple of Tensor of shape (N_k, C, *spatial), or None
        Each process's batch for the eval-mode pass after the T steps.
    """

    xs: tuple
    dys: tuple
    gamma: torch.Tensor | None = None
    beta: torch.Tensor | None = None
    eps: float = 1e-5
    momentum: float = 0.1
    x_eval: tuple | None = None

    @classmethod
    def from_batch(cls, x, sizes, dy=None, gamma=None, beta=None, **kwargs):
        """Cut one step's batch x (N, C, *) into slices of `sizes` examples (one per process).

        `dy` defaults to ones.
        """
        dy = torch.ones_like(x) if dy is None else dy
        xs = tuple(s[None] for s in torch.split(x, list(sizes)))
        dys = tuple(s[None] for s in torch.split(dy, list(sizes)))
        return cls(xs, dys, gamma, beta, **kwargs)


def batch_norm_on_slices(rank, world_size, *cases):
    """Run synchronized BN on this process's slice of each `SliceCase`; run by every process.

    For each case: a `SyncBatchNorm` with the case's gamma and beta takes T training steps on
    ``xs[rank]`` (forward, then backward of ``sum(y * dy)``, the parameters left unchanged), then
    one eval-mode pass on ``x_eval[rank]``; and `sync_batch_norm` takes step 0 again.

    Returns
    -------
    list of dict, one per case, with Tensors
        ``y``, ``dx`` (T, N_k, ...); ``dgamma``, ``dbeta``, ``running_mean``, ``running_var``
        (T, C) after each step; ``y_eval`` or None; ``function``: a dict with ``y``, ``dx``,
        ``dgamma``, ``dbeta`` of `sync_batch_norm` on step 0.
    """
    return [_slice_case(case, rank) for case in cases]


def _slice_case(case, rank):
    xs, dys = case.xs[rank], case.dys[rank]
    bn = SyncBatchNorm(xs.shape[2], eps=case.eps, momentum=case.momentum).to(xs.dtype)
    with torch.no_grad():
        for param, value in ((bn.weight, case.gamma), (bn.bias, case.beta)):
            if value is not None:
                param.copy_(value)
    out = {k: [] for k in ("y", "dx", "dgamma", "dbeta", "running_mean", "running_var")}
    for x_t, dy_t in zip(xs, dys, strict=True):
        x_t = x_t.clone().requires_grad_()
        bn.zero_grad()
        y = bn(x_t)
        (y * dy_t).sum().backward()
        for key, value in (("y", y), ("dx", x_t.grad), ("dgamma", bn.weight.grad),
                           ("dbeta", bn.bias.grad), ("running_mean", bn.running_mean),
                           ("running_var", bn.running_var)):  # fmt: skip
            out[key].append(value.detach().clone())
    out = {k: torch.stack(v) for k, v in out.items()}
    out["y_eval"] = None if case.x_eval is None else bn.eval()(case.x_eval[rank]).detach()
    x0 = xs[0].clone().requires_grad_()
    gamma, beta = (p.detach().clone().requires_grad_() for p in (bn.weight, bn.bias))
    y0 = sync_batch_norm(x0, gamma, beta, case.eps)
    (y0 * dys[0]).sum().backward()
    out["function"] = {"y": y0.detach(), "dx": x0.grad, "dgamma": gamma.grad, "dbeta": beta.grad}
    return out
