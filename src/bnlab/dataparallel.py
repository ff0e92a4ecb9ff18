"""Data-parallel training with local, synchronized and ghost BN: what chapter 9's processes run.

Functions run by `bnlab.launch.run_distributed` must be importable, so the code the chapter and
the tests run in their processes lives here:

- `batch_norm_on_slices` runs `bnlab.distributed.SyncBatchNorm` (and `sync_batch_norm`) on each
  process's slice of a batch, for comparison with single-process BN on the whole batch;
- `train_data_parallel` trains networks data-parallel: each process takes its slice of every
  mini-batch, BN is local (statistics of the slice) or synchronized (of the union batch), and the
  weight gradients are summed over the processes by one all-reduce per step;
- `ghost_batch_norm` is local BN on one process: statistics of sub-batches ("ghost batches");
- `torch_sync_batch_norm` shows what ``torch.nn.SyncBatchNorm`` does on CPU processes.
"""

import resource
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from bnlab.data import digits_tensors
from bnlab.distributed import SyncBatchNorm, sync_batch_norm
from bnlab.models import make_mlp
from bnlab.stacked import StackedBatchNorm, StackedMLP, evaluate_stacked
from bnlab.training import History

NORMS = ("local", "sync", "ghost", None)


def rank_and_size(rank, world_size, pause=0.0):
    """The smallest function a process can run: its rank and the number of processes.

    After `pause` seconds: a long pause shows what `bnlab.launch.run_distributed` does when
    processes run out of time.
    """
    time.sleep(pause)
    return rank, world_size


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


def torch_sync_batch_norm(rank, world_size, x):
    """Try ``torch.nn.SyncBatchNorm`` in training mode on this process's slice of `x` (CPU).

    Returns
    -------
    str
        The error torch raises (its kernels need a GPU), or "no error" and the output's shape.
    """
    slices = torch.tensor_split(x, world_size)
    try:
        y = nn.SyncBatchNorm(x.shape[1]).to(x.dtype)(slices[rank])
    except (ValueError, RuntimeError) as err:
        return f"{type(err).__name__}: {err}"
    return f"no error, output of shape {tuple(y.shape)}"


class StackedSyncBatchNorm(nn.Module):
    """`bnlab.stacked.StackedBatchNorm` synchronized: one `SyncBatchNorm` over the M*F columns.

    Every (model, feature) column of the stacked activations (M, N, F) is normalized with the
    statistics of the union batch of all processes; one all-gather and one all-reduce serve all
    M networks.
    """

    def __init__(self, stacked):
        super().__init__()
        M, D = stacked.weight.shape
        self.bn = SyncBatchNorm(M * D, eps=stacked.eps, momentum=stacked.momentum)
        self.bn.to(stacked.weight.dtype)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(self.bn, name).copy_(getattr(stacked, name).reshape(-1))

    def forward(self, x):
        M, N, D = x.shape
        y = self.bn(x.transpose(0, 1).reshape(N, M * D))
        return y.reshape(N, M, D).transpose(0, 1)


class StackedGhostBatchNorm(nn.Module):
    """`bnlab.stacked.StackedBatchNorm` with the statistics of ghost batches (`ghost_batch_norm`).

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


@dataclass(frozen=True)
class Run:
    """One data-parallel training configuration for `train_data_parallel`.

    Attributes
    ----------
    norm : {"local", "sync", "ghost", None}
        BN with each process's own batch statistics, BN synchronized over the processes, BN
        with the statistics of ghost batches of `ghost_size` examples, or no normalization.
    seeds : tuple of int
        One network per seed (its initialization and batch order), trained as one stack.
    per_process : int
        Examples per process per step; the union batch has ``world_size * per_process``.
    steps, lr, depth, width : training length, SGD learning rate, hidden layers and units.
    ghost_size : int or None
        Examples per ghost batch, for ``norm="ghost"``.
    data_seed : int
        Seed of the split of the digits data set (`bnlab.data.digits_tensors`).
    eval_every : int
    """

    norm: str | None
    seeds: tuple
    per_process: int
    steps: int = 300
    lr: float = 0.1
    depth: int = 2
    width: int = 64
    ghost_size: int | None = None
    data_seed: int = 0
    eval_every: int = 50


def _stack(run):
    models = [
        make_mlp(64, 10, width=run.width, depth=run.depth, norm=run.norm and "bn", seed=s).double()
        for s in run.seeds
    ]
    stack = StackedMLP(models)
    for i, layer in enumerate(stack.layers):
        if isinstance(layer, StackedBatchNorm) and run.norm == "sync":
            stack.layers[i] = StackedSyncBatchNorm(layer)
        elif isinstance(layer, StackedBatchNorm) and run.norm == "ghost":
            stack.layers[i] = StackedGhostBatchNorm(layer, run.ghost_size)
    return stack


def train_data_parallel(rank, world_size, *runs):
    """Train each `Run` data-parallel as process `rank` of `world_size`; run by every process.

    Parameters
    ----------
    rank, world_size : int
        With ``world_size == 1`` no process group is needed unless ``norm == "sync"``: that is
        single-process training on the whole (union) batch.
    *runs : Run

    Returns
    -------
    list of dict, one per run
        ``params``: every parameter of the M networks, flattened, float64 (the same on every
        process); ``histories``: a `bnlab.training.History` per network, from process 0 (None
        on the others), with the union batch's training loss at every step and the validation
        loss and accuracy in eval mode (process 0's running statistics); ``seconds``: the
        run's wall-clock time; ``cpu_seconds``: this process's CPU time (user + system) so far.

    Notes
    -----
    Every process draws the same union batch (the seed's permutation, as `bnlab.stacked`
    does) and takes rows ``rank * per_process`` to ``(rank + 1) * per_process`` of it. Its loss
    is the sum over its examples divided by the union batch size, so the all-reduced (summed)
    gradient is the gradient of the mean loss over the union batch. The M per-model loss sums
    travel in the same all-reduce as the gradients. Without BN, and with synchronized BN, this
    equals single-process training on the union batch up to rounding; with local BN it equals
    single-process training with ``norm="ghost"`` and ``ghost_size=per_process``, up to
    rounding (which BN of very few values amplifies quickly), though not in eval mode: local
    BN's running statistics are process 0's, of the first ghost batch only.

    Examples
    --------
    >>> run = Run("local", seeds=(0, 1), per_process=8, steps=20, eval_every=10)
    >>> out = train_data_parallel(0, 1, run)[0]  # one process: no process group needed
    >>> out["params"].dtype, [h.eval_step.tolist() for h in out["histories"]]
    (torch.float64, [[0, 10, 20], [0, 10, 20]])
    """
    if run_norms := [r.norm for r in runs if r.norm not in NORMS]:
        raise ValueError(f"norm must be one of {NORMS}, got {run_norms[0]!r}")
    data = {}
    out = []
    for run in runs:
        if run.data_seed not in data:
            data[run.data_seed] = [
                t.double() if t.is_floating_point() else t for t in digits_tensors(run.data_seed)
            ]
        out.append(_train(rank, world_size, run, *data[run.data_seed]))
    return out


def _train(rank, world_size, run, X, y, X_val, y_val):
    stack = _stack(run)
    M, B, b = len(run.seeds), world_size * run.per_process, run.per_process
    if B > len(X):
        raise ValueError(f"the union batch ({B}) must be <= the training set ({len(X)})")
    params = list(stack.parameters())
    order_gens = [torch.Generator().manual_seed(int(s)) for s in run.seeds]
    per_epoch = len(X) // B
    losses, evals = [], []
    start = time.perf_counter()

    def record(step):
        if rank == 0:
            evals.append((step, *evaluate_stacked(stack, X_val, y_val)))

    stack.train()
    record(0)
    for step in range(run.steps):
        if step % per_epoch == 0:
            orders = torch.stack([torch.randperm(len(X), generator=g) for g in order_gens])
        first = (step % per_epoch) * B + rank * b
        idx = orders[:, first : first + b]
        logits = stack(X[idx])
        per_model = (
            F.cross_entropy(logits.reshape(M * b, -1), y[idx].reshape(-1), reduction="none")
            .reshape(M, b)
            .sum(1)
            / B
        )
        for p in params:
            p.grad = None
        per_model.sum().backward()
        flat = torch.cat([p.grad.reshape(-1) for p in params] + [per_model.detach()])
        if world_size > 1:
            dist.all_reduce(flat)  # the data-parallel sum: weight gradients and the M losses
        losses.append(flat[-M:].numpy().copy())
        with torch.no_grad():
            offset = 0
            for p in params:
                p.sub_(run.lr * flat[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
        if (step + 1) % run.eval_every == 0 or step + 1 == run.steps:
            record(step + 1)
    flat_params = torch.cat([p.detach().reshape(-1) for p in params])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "params": flat_params,
        "histories": _histories(evals, np.array(losses).reshape(-1, M)) if evals else None,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }


def _histories(evals, losses):
    steps = np.array([e[0] for e in evals])
    val_loss = np.array([e[1] for e in evals])
    val_acc = np.array([e[2] for e in evals])
    return [
        History(
            loss=losses[:, m],
            eval_step=steps,
            val_loss=val_loss[:, m],
            val_acc=val_acc[:, m],
            diverged=not np.isfinite(losses[:, m]).all(),
        )
        for m in range(losses.shape[1])
    ]
