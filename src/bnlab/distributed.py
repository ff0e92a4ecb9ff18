"""Batch normalization across processes: synchronized BN on ``torch.distributed``.

Derived in chapter 9. In data-parallel training every process holds a slice of the mini-batch.
`sync_batch_norm` normalizes every slice with the statistics of the union of all slices, as
single-process BN on the concatenated batch would, and its backward pass gives each process its
slice of that single-process gradient. Per channel, the forward pass all-gathers each process's
count, mean and centred sum of squares and merges them with `bnlab.moments.combine_moments`
(chapter 1); the backward pass all-reduces the two sums ``sum(dy)`` and ``sum(dy * x_hat)``.

Layout as in `bnlab.batchnorm`: ``x`` of shape (N_k, C) or (N_k, C, *spatial), statistics per
channel over every axis except axis 1. Slices may differ in size between processes, and a
process may hold no example at all (N_k = 0) as long as the union has at least 2 values per
channel. Messages are float64 whatever the dtype of ``x``, so float32 and float64 processes can
be mixed and the merge loses nothing. Run processes with `bnlab.processes.run_distributed`.
"""

import functools

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from bnlab.moments import combine_moments

MESSAGE_DTYPE = torch.float64
FLOAT_DTYPES = (torch.float32, torch.float64)


def _reduce_dims(ndim):
    """Every axis except axis 1, the channel axis."""
    return (0, *range(2, ndim))


def _per_channel(v, ndim):
    """Reshape a (C,) tensor to (1, C, 1, ...) to broadcast against (N, C, *spatial)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _check_input(x):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"x must have dtype torch.float32 or torch.float64, got {x.dtype}")
    if x.ndim < 2 or x.shape[1] == 0:
        raise ValueError(
            f"x must have shape (N, C) or (N, C, *spatial) with C >= 1, got {tuple(x.shape)}"
        )


def _check_param(value, name, x):
    if value is None:
        return
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(value).__name__}")
    if value.shape != (x.shape[1],):
        raise ValueError(f"{name} must have shape ({x.shape[1]},), got {tuple(value.shape)}")
    if value.dtype != x.dtype:
        raise TypeError(f"{name} must have the dtype of x ({x.dtype}), got {value.dtype}")


def _group_size(group):
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "synchronized BN needs an initialized torch.distributed process group, and there "
            "is none: call torch.distributed.init_process_group first, or run the code in "
            "processes started by bnlab.processes.run_distributed"
        )
    return dist.get_world_size(group)


def local_moments(x):
    """Count, mean and centred sum of squares per channel of one process's slice, in float64.

    Parameters
    ----------
    x : Tensor of shape (N_k, C) or (N_k, C, *spatial), float32 or float64; N_k may be 0

    Returns
    -------
    n : int
        Values per channel, ``N_k * prod(spatial)``.
    mean, m2 : Tensor of shape (C,), float64
        Their mean and sum of squared deviations from it (two passes); zeros if n is 0.

    Examples
    --------
    >>> n, mean, m2 = local_moments(torch.tensor([[1.0], [2.0], [3.0], [4.0]]))
    >>> n, mean.tolist(), m2.tolist()
    (4, [2.5], [5.0])
    """
    _check_input(x)
    n = x.numel() // x.shape[1]
    if n == 0:
        zeros = torch.zeros(x.shape[1], dtype=MESSAGE_DTYPE)
        return 0, zeros, zeros.clone()
    dims = _reduce_dims(x.ndim)
    x = x.detach().to(MESSAGE_DTYPE)
    mean = x.mean(dims)
    return n, mean, ((x - _per_channel(mean, x.ndim)) ** 2).sum(dims)


def merge_moments(counts, means, m2s):
    """The count, mean and centred sum of squares of the union of several slices.

    Parameters
    ----------
    counts : sequence of int, length P
        Values per channel in each slice; slices with count 0 are skipped.
    means, m2s : sequence of Tensor of shape (C,), length P
        Mean and centred sum of squares of each slice.

    Returns
    -------
    n : int
    mean, m2 : Tensor of shape (C,)

    Notes
    -----
    `bnlab.moments.combine_moments` (Chan, Golub and LeVeque, chapter 1) folded over the slices:
    with ``delta = mean_b - mean_a`` and ``n = n_a + n_b``, ``mean = mean_a + delta * n_b / n`` and
    ``m2 = m2_a + m2_b + delta**2 * n_a * n_b / n``. Nothing is squared but deviations, so a
    large common offset costs nothing, unlike ``sum(x**2) - n * mean**2``.

    Examples
    --------
    >>> t = torch.tensor
    >>> n, mean, m2 = merge_moments([2, 0, 2], [t([1.5]), t([0.0]), t([3.5])],
    ...                             [t([0.5]), t([0.0]), t([0.5])])   # [1, 2], [], [3, 4]
    >>> n, mean.tolist(), m2.tolist()
    (4, [2.5], [5.0])
    """
    parts = [(int(n), mean, m2) for n, mean, m2 in zip(counts, means, m2s, strict=True) if n > 0]
    if not parts:
        raise ValueError(f"counts must have at least one positive entry, got {list(counts)}")
    return functools.reduce(lambda a, b: combine_moments(*a, *b), parts)


def check_channels(x, group=None):
    """Raise ValueError on every process unless all processes of `group` agree on x.shape[1].

    One all-gather of one integer per process. Without it, processes with different channel
    counts would send messages of different sizes, and gloo aborts the process.
    """
    _check_input(x)
    size = _group_size(group)
    channels = [torch.zeros(1, dtype=torch.int64) for _ in range(size)]
    dist.all_gather(channels, torch.tensor([x.shape[1]]), group=group)
    channels = [int(c) for c in channels]
    if len(set(channels)) > 1:
        raise ValueError(
            "the processes disagree on the number of channels C = x.shape[1]: "
            + ", ".join(f"{c} on process {r}" for r, c in enumerate(channels))
        )


def gather_moments(x, group=None):
    """Count, mean and centred sum of squares per channel of the union of all processes' x.

    Every process of `group` must call it, with the same number of channels.

    Parameters
    ----------
    x : Tensor of shape (N_k, C) or (N_k, C, *spatial), this process's slice
    group : torch.distributed ProcessGroup or None (the default group)

    Returns
    -------
    counts : list of int, length P
        Values per channel of every process's slice, by rank in `group`.
    n : int
        Their sum.
    mean, m2 : Tensor of shape (C,), float64
        Mean and centred sum of squares of the union (zeros where n is 0).

    Notes
    -----
    One all-gather of ``2C + 1`` float64 numbers per process (count, mean, m2), merged with
    `merge_moments` on every process: every process gets the same statistics, bit for bit.
    """
    size = _group_size(group)
    n_k, mean_k, m2_k = local_moments(x)
    message = torch.cat([torch.tensor([float(n_k)], dtype=MESSAGE_DTYPE), mean_k, m2_k])
    gathered = [torch.empty_like(message) for _ in range(size)]
    dist.all_gather(gathered, message, group=group)
    C = x.shape[1]
    counts = [int(g[0]) for g in gathered]
    if sum(counts) == 0:
        return counts, 0, mean_k, m2_k
    n, mean, m2 = merge_moments(
        counts, [g[1 : C + 1] for g in gathered], [g[C + 1 :] for g in gathered]
    )
    return counts, n, mean, m2


class _SyncBatchNormFunction(torch.autograd.Function):
    """y = gamma * x_hat + beta with the union's statistics; the backward pass all-reduces."""

    @staticmethod
    def forward(ctx, x, gamma, beta, mean, inv_std, n, group):
        ndim = x.ndim
        x_hat = (x - _per_channel(mean.to(x.dtype), ndim)) * _per_channel(inv_std, ndim)
        y = x_hat if gamma is None else x_hat * _per_channel(gamma, ndim)
        y = y if beta is None else y + _per_channel(beta, ndim)
        ctx.save_for_backward(x_hat, inv_std, gamma)
        ctx.n, ctx.group = n, group
        return y

    @staticmethod
    def backward(ctx, dy):
        x_hat, inv_std, gamma = ctx.saved_tensors
        dims, ndim, C = _reduce_dims(dy.ndim), dy.ndim, dy.shape[1]
        sum_dy = dy.sum(dims, dtype=MESSAGE_DTYPE)
        sum_dy_xhat = (dy * x_hat).sum(dims, dtype=MESSAGE_DTYPE)
        # The only communication of the backward pass: 2C numbers, the two sums over the union.
        total = torch.cat([sum_dy, sum_dy_xhat])
        dist.all_reduce(total, group=ctx.group)
        dx = dgamma = dbeta = None
        if ctx.needs_input_grad[0]:
            scale = inv_std if gamma is None else gamma * inv_std
            total_dy, total_dy_xhat = (_per_channel(t.to(dy.dtype), ndim) for t in total.split(C))
            dx = _per_channel(scale / ctx.n, ndim) * (ctx.n * dy - total_dy - x_hat * total_dy_xhat)
        if gamma is not None and ctx.needs_input_grad[1]:
            dgamma = sum_dy_xhat.to(dy.dtype)  # this slice's share; data parallelism sums them
        if ctx.needs_input_grad[2]:
            dbeta = sum_dy.to(dy.dtype)
        return dx, dgamma, dbeta, None, None, None, None


def _sync_normalize(x, gamma, beta, eps, group, check):
    """Synchronized training-mode BN; returns y and the union's (n, mean, m2)."""
    _check_input(x)
    _check_param(gamma, "gamma", x)
    _check_param(beta, "beta", x)
    if not eps >= 0:
        raise ValueError(f"eps must be a number >= 0, got {eps}")
    if check:
        check_channels(x, group)
    counts, n, mean, m2 = gather_moments(x, group)
    if n < 2:
        raise ValueError(
            "the union batch must have at least 2 values per channel in training mode "
            f"(sum over processes of N_k * prod(spatial) >= 2), got {n}: per process {counts}"
        )
    inv_std = torch.rsqrt(m2 / n + eps).to(x.dtype)
    y = _SyncBatchNormFunction.apply(x, gamma, beta, mean, inv_std, n, group)
    return y, n, mean, m2


def sync_batch_norm(x, gamma, beta, eps=1e-5, group=None):
    r"""Training-mode batch normalization over the union of the batches of all processes.

    Derived in chapter 9. Every process of `group` must call it (and, if a gradient is needed,
    run the backward pass through it) the same number of times in the same order, as with any
    collective.

    Parameters
    ----------
    x : Tensor of shape (N_k, C) or (N_k, C, *spatial), float32 or float64
        This process's slice of the batch; N_k may differ between processes and may be 0.
    gamma, beta : Tensor of shape (C,) or None
        Scale and shift, dtype of x (None: 1 and 0).
    eps : float, default 1e-5
    group : torch.distributed ProcessGroup or None (the default group)

    Returns
    -------
    y : Tensor, shape and dtype of x
        This process's slice of ``batch_norm(concatenated x)``.

    Raises
    ------
    RuntimeError
        If no process group is initialized.
    ValueError
        If the processes disagree on C, or the union has fewer than 2 values per channel.

    Notes
    -----
    With m values per channel in the union and sums over all of them (every process),

    .. math::
        \mu = \tfrac1m\textstyle\sum_i x_i,\quad \sigma^2 = \tfrac1m\textstyle\sum_i (x_i-\mu)^2,
        \quad y_i = \gamma\,\frac{x_i-\mu}{\sqrt{\sigma^2+\varepsilon}} + \beta,

    .. math::
        \frac{\partial L}{\partial x_i} = \frac{\gamma}{m\sqrt{\sigma^2+\varepsilon}}
        \Big(m\,dy_i - \sum_j dy_j - \hat x_i \sum_j dy_j \hat x_j\Big).

    The forward pass all-gathers (count, mean, m2) and merges them (`gather_moments`); the
    backward pass all-reduces the 2C sums. The gradients of `gamma` and `beta` are this
    process's share, ``sum(dy * x_hat)`` and ``sum(dy)`` over its own slice, as in PyTorch's
    ``SyncBatchNorm``: data-parallel training sums them over the processes with the rest of the
    weight gradients. Also checks (one all-gather of one integer) that the processes agree on C.

    Examples
    --------
    >>> from bnlab.processes import run_distributed
    >>> from bnlab.bn_on_slices import SliceCase, batch_norm_on_slices
    >>> x = torch.tensor([[1.0], [2.0], [3.0], [4.0]], dtype=torch.float64)
    >>> case = SliceCase.from_batch(x, sizes=[1, 3])  # process 0 holds 1 example, process 1 three
    >>> out = run_distributed(batch_norm_on_slices, 2, case)
    >>> [[round(v, 4) for v in rank[0]["y"][0].squeeze(1).tolist()] for rank in out]
    [[-1.3416], [-0.4472, 0.4472, 1.3416]]
    """
    return _sync_normalize(x, gamma, beta, eps, group, check=True)[0]


class SyncBatchNorm(nn.Module):
    """Batch normalization over the union batch of all processes, like ``torch.nn.BatchNorm1d/2d``.

    Derived in chapter 9. In training mode it normalizes with the statistics of the union of
    every process's batch (`sync_batch_norm`) and updates the running statistics with them; in
    eval mode it normalizes with the running statistics and communicates nothing.

    Parameters
    ----------
    num_features : int
        C, the size of axis 1 of the input.
    eps : float, default 1e-5
    momentum : float or None, default 0.1
        Weight of the new batch in the running averages (torch's convention); None: cumulative
        average.
    affine : bool, default True
        Learn ``weight`` (gamma) and ``bias`` (beta).
    track_running_stats : bool, default True
        Keep running statistics; without them eval mode uses (synchronized) batch statistics.
    group : torch.distributed ProcessGroup or None (the default group)

    Notes
    -----
    The running mean is updated with the union's mean and the running variance with the union's
    *unbiased* variance ``m2 / (m - 1)``, m the total count over all processes, as
    ``torch.nn.BatchNorm1d`` on the concatenated batch would (chapter 6). Every process ends
    with the same running statistics. The first synchronized forward pass checks that all
    processes agree on C; later ones skip that all-gather, since each process checks its input
    against `num_features`. Parameters, buffers and state_dict keys are those of
    ``torch.nn.BatchNorm1d``.

    Examples
    --------
    >>> bn = SyncBatchNorm(3)
    >>> bn
    SyncBatchNorm(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    >>> bn.eval()(torch.ones(2, 3)).shape  # eval mode needs no process group
    torch.Size([2, 3])
    """

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        group=None,
    ):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be an integer >= 1, got {num_features!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), momentum
        self.affine, self.track_running_stats, self.group = affine, track_running_stats, group
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self._channels_checked = False

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )

    def forward(self, x):
        _check_input(x)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"x must have num_features={self.num_features} entries on axis 1, "
                f"got shape {tuple(x.shape)}"
            )
        if not self.training and self.track_running_stats:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        y, n, mean, m2 = _sync_normalize(
            x, self.weight, self.bias, self.eps, self.group, check=not self._channels_checked
        )
        self._channels_checked = True
        if self.training and self.track_running_stats:
            self._update_running(n, mean, m2)
        return y

    @torch.no_grad()
    def _update_running(self, n, mean, m2):
        self.num_batches_tracked += 1
        m = 1.0 / int(self.num_batches_tracked) if self.momentum is None else self.momentum
        dtype = self.running_mean.dtype
        self.running_mean.mul_(1 - m).add_(mean.to(dtype), alpha=m)
        self.running_var.mul_(1 - m).add_((m2 / (n - 1)).to(dtype), alpha=m)


def convert_sync_batchnorm(module, group=None):
    """Replace every BatchNorm1d/2d/3d of `module` by a `SyncBatchNorm` with the same state.

    Derived in chapter 9. The counterpart of ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``
    for CPU processes: parameters (the same ``Parameter`` objects, so an optimizer built before
    still holds them), buffers and train/eval mode carry over; `group` is the process group
    every converted layer synchronizes over (None: the default group).

    Parameters
    ----------
    module : torch.nn.Module
    group : torch.distributed ProcessGroup or None

    Returns
    -------
    torch.nn.Module
        `module` itself with its BN layers replaced, or the new layer if `module` is one.

    Examples
    --------
    >>> net = convert_sync_batchnorm(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)))
    >>> type(net[1]).__name__, net[1].num_features
    ('SyncBatchNorm', 3)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        new = SyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            group,
        )
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        return new.train(module.training)
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, group))
    return module
