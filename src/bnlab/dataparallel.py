"""Data-parallel training with local, synchronized and ghost BN: what chapter 9's processes run.

`train_data_parallel` trains networks data-parallel: each process takes its slice of every
mini-batch (in the order of `bnlab.training.batch_order`), BN is local (statistics of the slice),
synchronized (of the union batch) or ghost BN (`bnlab.ghost_bn`), and the weight gradients are
summed over the processes by one all-reduce per step. It is run by
`bnlab.processes.run_distributed`, so it lives in an importable module.
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
from bnlab.distributed import SyncBatchNorm
from bnlab.ghost_bn import StackedGhostBatchNorm
from bnlab.models import make_mlp
from bnlab.stacked_models import StackedBatchNorm, StackedMLP
from bnlab.stacked_training import evaluate_stacked
from bnlab.training import History, batch_order, is_eval_step

NORMS = ("local", "sync", "ghost", None)


class StackedSyncBatchNorm(nn.Module):
    """A stacked BN layer synchronized: one `SyncBatchNorm` over the M*F columns.

    It replaces a `bnlab.stacked_models.StackedBatchNorm` (and takes over its parameters).

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
    Every process draws the same union batch (`bnlab.training.batch_order` with batch size
    ``world_size * per_process``, as every trainer of the course draws its batches) and takes
    rows ``rank * per_process`` to ``(rank + 1) * per_process`` of it. Its loss
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
    batches = batch_order(len(X), B, run.seeds)
    losses, evals = [], [[] for _ in range(M)]
    start = time.perf_counter()

    def record(step):
        if rank == 0:
            val_loss, val_acc = evaluate_stacked(stack, X_val, y_val)
            for m in range(M):
                evals[m].append((step, val_loss[m], val_acc[m]))

    stack.train()
    record(0)
    for step in range(run.steps):
        idx = next(batches)[:, rank * b : (rank + 1) * b]
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
        if is_eval_step(step + 1, run.steps, run.eval_every):
            record(step + 1)
    seconds = time.perf_counter() - start
    losses = np.array(losses).reshape(-1, M)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "params": torch.cat([p.detach().reshape(-1) for p in params]),
        "histories": [
            History.from_records(
                losses[:, m],
                evals[m],
                diverged=not np.isfinite(losses[:, m]).all(),
                seconds=seconds,
            )
            for m in range(M)
        ]
        if rank == 0
        else None,
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }
