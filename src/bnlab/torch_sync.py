"""PyTorch's own synchronized BN on CPU processes, and what a practitioner runs (chapter 9).

Chapter 9 runs ``torch.nn.SyncBatchNorm``'s autograd function, the code the module calls on a
GPU, on gloo processes. That function's communication is PyTorch's: each process all-gathers
``(mean, invstd, count)`` of its slice in the input's dtype, the slices with count 0 are dropped,
and the backward pass all-reduces ``sum(dy)`` and ``sum(dy * (x - mean))``. Only its five
per-process kernels (``torch.batch_norm_stats`` and four others) exist for GPUs alone; `cpu_kernels`
registers CPU versions of them, written from what each kernel computes, so that the rest runs
unchanged. The module ``torch.nn.SyncBatchNorm`` itself still refuses a CPU input in training
mode (its own device check), which is why `sync_function` calls the function directly.

Registering kernels changes torch for the whole process, so only the processes of chapter 9
call `cpu_kernels` (through the functions here), never an import.

The functions run by `bnlab.processes.run_distributed` for chapter 9's practical section:

- `torch_sync_batch_norm` tries the module ``torch.nn.SyncBatchNorm`` on CPU processes, without
  the kernels: the error it raises;
- `torch_and_bnlab` runs PyTorch's function and `bnlab.distributed.SyncBatchNorm` on the same
  slices, and both modules in eval mode without running statistics;
- `subgroups` synchronizes within pairs of processes, a real ``process_group`` of each pair;
- `ddp_train` trains a network converted to synchronized BN inside
  ``torch.nn.parallel.DistributedDataParallel``, with or without ``broadcast_buffers``.
"""

import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.nn.modules import _functions

from bnlab.data import digits_tensors
from bnlab.distributed import SyncBatchNorm, convert_sync_batchnorm

_LIBRARY = []  # the torch.library handle must stay alive for the kernels to stay registered


def _dims(x):
    return (0, *range(2, x.ndim))


def _channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def _stats(x, eps):
    mean = x.mean(_dims(x))
    var = ((x - _channel(mean, x)) ** 2).mean(_dims(x))
    return mean, torch.rsqrt(var + eps)


def _gather_stats(x, mean, invstd, running_mean, running_var, momentum, eps, counts):
    counts = counts.to(mean.dtype).reshape(-1, 1)
    n = counts.sum()
    total_mean = (counts * mean).sum(0) / n
    var_k = 1 / invstd**2 - eps
    var = (counts * (var_k + (mean - total_mean) ** 2)).sum(0) / n
    if running_mean is not None:
        running_mean.mul_(1 - momentum).add_(momentum * total_mean.to(running_mean.dtype))
    if running_var is not None:
        unbiased = var * n / (n - 1)
        running_var.mul_(1 - momentum).add_(momentum * unbiased.to(running_var.dtype))
    return total_mean, torch.rsqrt(var + eps)


def _elemt(x, weight, bias, mean, invstd, eps):
    y = (x - _channel(mean, x)) * _channel(invstd, x)
    y = y if weight is None else y * _channel(weight, x)
    return y if bias is None else y + _channel(bias, x)


def _backward_reduce(dy, x, mean, invstd, weight, input_g, weight_g, bias_g):
    sum_dy = dy.sum(_dims(x))
    sum_dy_xmu = (dy * (x - _channel(mean, x))).sum(_dims(x))
    return sum_dy, sum_dy_xmu, sum_dy_xmu * invstd, sum_dy.clone()


def _backward_elemt(dy, x, mean, invstd, weight, sum_dy, sum_dy_xmu, count):
    n = count.sum().to(dy.dtype)
    scale = invstd if weight is None else invstd * weight
    xmu = x - _channel(mean, x)
    return _channel(scale, x) * (
        dy - _channel(sum_dy / n, x) - xmu * _channel(invstd**2 * sum_dy_xmu / n, x)
    )


KERNELS = {
    "batch_norm_stats": _stats,
    "batch_norm_gather_stats_with_counts": _gather_stats,
    "batch_norm_elemt": _elemt,
    "batch_norm_backward_reduce": _backward_reduce,
    "batch_norm_backward_elemt": _backward_elemt,
}


def cpu_kernels():
    """Register CPU versions of the five GPU-only kernels of torch's SyncBatchNorm (once).

    Returns
    -------
    list of str
        The operators that had no CPU kernel and now have this module's.
    """
    if _LIBRARY:
        return sorted(KERNELS)
    library = torch.library.Library("aten", "IMPL")
    for name, fn in KERNELS.items():
        library.impl(name, fn, "CPU")
    _LIBRARY.append(library)
    return sorted(KERNELS)


def sync_function(x, weight, bias, running_mean, running_var, eps, momentum, group=None):
    """Training-mode synchronized BN with PyTorch's own autograd function (CPU kernels).

    The arguments are those ``torch.nn.SyncBatchNorm.forward`` passes on a GPU; `group` None
    is the default group. Every process of `group` must call it.
    """
    cpu_kernels()
    group = dist.group.WORLD if group is None else group
    return _functions.SyncBatchNorm.apply(
        x, weight, bias, running_mean, running_var, eps, momentum, group, dist.get_world_size(group)
    )


def _step(layer_fn, params, x, dy):
    x = x.clone().requires_grad_()
    for p in params:
        p.grad = None
    y = layer_fn(x)
    (y * dy).sum().backward()
    grads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in (x, *params)]
    return {"y": y.detach(), "dx": grads[0], "dgamma": grads[1], "dbeta": grads[2]}


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


def torch_and_bnlab(rank, world_size, case):
    """PyTorch's synchronized BN and bnlab's on this process's slices of a `SliceCase`.

    The case is a `bnlab.bn_on_slices.SliceCase`.

    Returns
    -------
    dict
        ``torch``, ``bnlab``: per step ``y``, ``dx``, ``dgamma``, ``dbeta`` (lists), and the
        running statistics after the last step; ``eval_no_running``: the output of each module
        without running statistics in eval mode on step 0's slice (``torch.nn.SyncBatchNorm``
        normalizes with the slice's own statistics there, bnlab's synchronizes).
    """
    xs, dys = case.xs[rank], case.dys[rank]
    C = xs.shape[2]
    mine = SyncBatchNorm(C, eps=case.eps, momentum=case.momentum).to(xs.dtype)
    gamma, beta = (p.detach().clone().requires_grad_() for p in (case.gamma, case.beta))
    running = torch.zeros(C, dtype=xs.dtype), torch.ones(C, dtype=xs.dtype)
    with torch.no_grad():
        mine.weight.copy_(case.gamma)
        mine.bias.copy_(case.beta)

    def theirs(x):
        return sync_function(x, gamma, beta, *running, case.eps, case.momentum)

    out = {"torch": [], "bnlab": []}
    for x_t, dy_t in zip(xs, dys, strict=True):
        out["torch"].append(_step(theirs, [gamma, beta], x_t, dy_t))
        out["bnlab"].append(_step(mine, [mine.weight, mine.bias], x_t, dy_t))
    out["running"] = {"torch": running, "bnlab": (mine.running_mean, mine.running_var)}
    no_running = {
        "torch": nn.SyncBatchNorm(C, track_running_stats=False),
        "bnlab": SyncBatchNorm(C, track_running_stats=False),
    }
    out["eval_no_running"] = {
        k: m.to(xs.dtype).eval()(xs[0]).detach() for k, m in no_running.items()
    }
    return out


def subgroups(rank, world_size, x):
    """Synchronized BN within pairs of processes: ranks 0-1, 2-3, ... each a process group.

    `x` (N, C, ...) is cut into `world_size` slices with ``torch.tensor_split``. Every process
    creates every pair's group (``new_group`` is collective), then normalizes its slice over its
    own pair with bnlab's module and with PyTorch's function, and converts a network with
    ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` for that group.

    Returns
    -------
    dict
        ``bnlab``, ``torch``: this slice's output; ``group_ranks``: the ranks of its group;
        ``converted``: the group ranks the converted network's SyncBatchNorm layers hold.
    """
    groups = [
        dist.new_group(list(range(r, min(r + 2, world_size)))) for r in range(0, world_size, 2)
    ]
    group = groups[rank // 2]
    slice_ = torch.tensor_split(x, world_size)[rank]
    C = x.shape[1]
    layer = SyncBatchNorm(C, group=group).to(x.dtype)
    net = nn.Sequential(nn.Linear(C, C), nn.BatchNorm1d(C), nn.ReLU())
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(net, process_group=group)
    return {
        "bnlab": layer(slice_).detach(),
        "torch": sync_function(slice_, None, None, None, None, 1e-5, 0.1, group).detach(),
        "group_ranks": dist.get_process_group_ranks(group),
        "converted": [
            dist.get_process_group_ranks(m.process_group)
            for m in converted.modules()
            if isinstance(m, nn.SyncBatchNorm)
        ],
    }


@dataclass(frozen=True)
class DDPRun:
    """One run of `ddp_train`.

    Attributes
    ----------
    norm : {"local", "sync"}
        Keep ``torch.nn.BatchNorm1d`` (each process's own statistics), or convert it with
        `bnlab.distributed.convert_sync_batchnorm`.
    broadcast_buffers : bool
        ``DistributedDataParallel``'s option: process 0's buffers are sent to every process at
        the start of each forward pass.
    per_process, steps, lr, width, seed, data_seed : examples per process per step, SGD steps,
        learning rate, hidden units, the seed of the initial weights and batch order, the split.
    """

    norm: str
    broadcast_buffers: bool
    per_process: int
    steps: int = 20
    lr: float = 0.1
    width: int = 32
    seed: int = 0
    data_seed: int = 0


def ddp_train(rank, world_size, *runs):
    """Train each `DDPRun`'s network with ``DistributedDataParallel`` as process `rank` (gloo).

    Each process takes its equal slice of every union batch of ``world_size * per_process``
    examples and the mean loss over its slice; DDP averages the gradients, so the step is that
    of the mean loss over the union batch.

    Returns
    -------
    list of dict, one per run
        ``params``: every parameter flattened (float64); ``running_mean``, ``running_var``: the
        BN layer's buffers after the last training step and again after one eval-mode forward
        pass through DDP.

    Notes
    -----
    torch 2.13 deprecates ``broadcast_buffers`` in favour of ``forward_sync_buffers`` (which,
    unlike ``broadcast_buffers=False``, still copies process 0's buffers once at construction);
    the runs use ``broadcast_buffers``, the option of every earlier release, with that
    ``FutureWarning`` silenced.
    """
    return [_ddp_run(rank, world_size, run) for run in runs]


def _ddp_run(rank, world_size, run):
    torch.manual_seed(run.seed)
    net = nn.Sequential(
        nn.Linear(64, run.width, bias=False),
        nn.BatchNorm1d(run.width),
        nn.ReLU(),
        nn.Linear(run.width, 10),
    ).double()
    if run.norm == "sync":
        net = convert_sync_batchnorm(net)
    elif run.norm != "local":
        raise ValueError(f"norm must be 'local' or 'sync', got {run.norm!r}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`broadcast_buffers` is deprecated", FutureWarning)
        model = nn.parallel.DistributedDataParallel(net, broadcast_buffers=run.broadcast_buffers)
    X, y, X_val, _ = digits_tensors(run.data_seed)
    X, X_val = X.double(), X_val.double()
    B, b = world_size * run.per_process, run.per_process
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(run.seed))
    opt = torch.optim.SGD(model.parameters(), lr=run.lr)
    bn = net[1]
    per_epoch = len(X) // B
    for step in range(run.steps):
        first = (step % per_epoch) * B + rank * b
        idx = order[first : first + b]
        opt.zero_grad()
        F.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
    after_train = (bn.running_mean.clone(), bn.running_var.clone())
    model.eval()
    with torch.no_grad():
        model(X_val[:8])
    return {
        "params": torch.cat([p.detach().reshape(-1) for p in net.parameters()]),
        "running_mean": (after_train[0], bn.running_mean.clone()),
        "running_var": (after_train[1], bn.running_var.clone()),
    }
