"""Small torch helpers for the experiments of chapter 8: build, train, evaluate, diagnose.

Everything here is deliberately small so that the chapter can show it in full:

- `make_mlp` builds ``Linear -> norm -> activation`` blocks with a chosen init scale,
- `NoisyBatchNorm1d` is BN followed by noise whose distribution changes every step
  (the "noisy BN" of Santurkar et al. 2018),
- `train` is a seeded SGD loop that returns a `History`,
- `evaluate`, `record_activations`, `saturation`, `gradient_norms` and `landscape_along_gradient`
  are the diagnostics the chapter plots.

Arrays go in as torch tensors: inputs ``X`` of shape (N, D), float32, and integer class labels
``y`` of shape (N,).
"""

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
NORMS = (None, "bn", "noisy_bn", "ln", "gn")


class NoisyBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d followed by a random shift and scale that change at every training step.

    Parameters
    ----------
    num_features : int
        D, the number of features of the (N, D) input.
    shift : float, default 1.0
        Per step and per feature a shift ``m_t ~ U(-shift, shift)`` is drawn.
    scale : float, default 1.5
        Per step and per feature a scale ``a_t`` is drawn log-uniformly from [1/scale, scale].
    noise_std : float, default 0.0
        Standard deviation of extra i.i.d. Gaussian noise per sample and feature.
    **kwargs
        Passed to `torch.nn.BatchNorm1d` (eps, momentum, ...).

    Notes
    -----
    In training mode the output is ``a_t * y + m_t + noise_std * z`` with ``y`` the BN output
    and ``z ~ N(0, 1)``. Each unit's output thus has a mean and a variance that are redrawn on
    every forward pass: the next layer sees an input distribution that moves at every step --
    "internal covariate shift" injected on purpose after the normalization (Santurkar et al.
    2018). With ``noise_std = 0`` the whole batch moves together; Santurkar et al. perturb each
    example separately, which ``noise_std > 0`` adds (per-example noise with the moving mean
    ``m_t``). In eval mode the layer is plain BN. The noise comes from torch's global generator, so
    `torch.manual_seed` makes it reproducible. Chapter 8 trains with it.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> layer = NoisyBatchNorm1d(3, shift=2.0, scale=1.0)
    >>> x = torch.randn(5, 3)
    >>> moved = layer(x) - nn.functional.batch_norm(x, None, None, training=True)
    >>> bool((moved - moved[0]).abs().max() < 1e-6)  # one shift per feature and step
    True
    """

    def __init__(self, num_features, shift=1.0, scale=1.5, noise_std=0.0, **kwargs):
        super().__init__(num_features, **kwargs)
        if shift < 0 or scale < 1 or noise_std < 0:
            raise ValueError(
                f"need shift >= 0, scale >= 1 and noise_std >= 0, got {shift}, {scale}, {noise_std}"
            )
        self.shift, self.scale, self.noise_std = float(shift), float(scale), float(noise_std)

    def forward(self, x):
        y = super().forward(x)
        if not self.training:
            return y
        d = x.shape[1]
        m_t = (2 * torch.rand(d, dtype=x.dtype) - 1) * self.shift
        a_t = torch.exp((2 * torch.rand(d, dtype=x.dtype) - 1) * np.log(self.scale))
        return a_t * y + m_t + self.noise_std * torch.randn_like(y)


def _norm_layer(norm, width, num_groups, norm_kwargs):
    if norm == "bn":
        return nn.BatchNorm1d(width, **norm_kwargs)
    if norm == "noisy_bn":
        return NoisyBatchNorm1d(width, **norm_kwargs)
    if norm == "ln":
        return nn.LayerNorm(width, **norm_kwargs)
    if norm == "gn":
        return nn.GroupNorm(num_groups, width, **norm_kwargs)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def make_mlp(
    in_features,
    out_features,
    width=64,
    depth=6,
    norm=None,
    activation="relu",
    init_scale=1.0,
    num_groups=8,
    norm_kwargs=None,
    seed=0,
):
    """Build an MLP of `depth` hidden blocks ``Linear -> norm -> activation`` and a linear head.

    Parameters
    ----------
    in_features, out_features : int
        Input dimension D and number of classes K.
    width : int, default 64
        Units per hidden layer.
    depth : int, default 6
        Number of hidden layers (each with its own weight matrix); the network has
        ``depth + 1`` Linear layers.
    norm : {None, "bn", "noisy_bn", "ln", "gn"}, default None
        Normalization between each hidden Linear and its activation; never after the head.
    activation : {"relu", "tanh", "sigmoid"}, default "relu"
    init_scale : float, default 1.0
        Multiplier of the standard initialization (He for ReLU, see Notes).
    num_groups : int, default 8
        Groups for ``norm="gn"``; must divide `width`.
    norm_kwargs : dict, optional
        Extra keyword arguments for every norm layer, e.g. ``{"shift": 2.0}`` for noisy BN.
    seed : int, default 0
        Seeds the weight initialization (torch's global generator is left untouched).

    Returns
    -------
    torch.nn.Sequential
        Maps (N, in_features) to logits (N, out_features).

    Notes
    -----
    Every weight is drawn from :math:`N(0, \\sigma^2)` with
    :math:`\\sigma = \\text{init\\_scale} \\cdot g / \\sqrt{\\text{fan\\_in}}`, where ``g`` is
    `torch.nn.init.calculate_gain` of the activation (sqrt(2) for ReLU, 5/3 for tanh, 1 for
    sigmoid) and 1 for the head. Biases start at 0. A Linear followed by BN gets no bias: BN
    subtracts the batch mean, so a bias there would cancel exactly (chapter 7). LayerNorm and
    GroupNorm keep it, because they subtract a mean over features, which does not cancel a
    per-feature bias. Chapter 8 uses this builder for every experiment.

    Examples
    --------
    >>> net = make_mlp(64, 10, width=32, depth=3, norm="bn")
    >>> [type(m).__name__ for m in net][:4]
    ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
    >>> net(torch.zeros(5, 64)).shape
    torch.Size([5, 10])
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
    if not init_scale > 0:
        raise ValueError(f"init_scale must be > 0, got {init_scale}")
    if norm == "gn" and width % num_groups:
        raise ValueError(f"num_groups must divide width, got {num_groups} and {width}")
    gen = torch.Generator().manual_seed(seed)
    gain = nn.init.calculate_gain(activation)
    layers, fan_in = [], in_features
    for _ in range(depth):
        linear = nn.Linear(fan_in, width, bias=norm not in ("bn", "noisy_bn"))
        _init_linear(linear, init_scale * gain, gen)
        layers.append(linear)
        if norm is not None:
            layers.append(_norm_layer(norm, width, num_groups, norm_kwargs or {}))
        layers.append(ACTIVATIONS[activation]())
        fan_in = width
    head = nn.Linear(fan_in, out_features)
    _init_linear(head, init_scale, gen)
    layers.append(head)
    return nn.Sequential(*layers)


def _init_linear(linear, gain, gen):
    with torch.no_grad():
        std = gain / np.sqrt(linear.in_features)
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=gen) * std)
        if linear.bias is not None:
            linear.bias.zero_()


def evaluate(model, X, y):
    """Return (mean cross-entropy, accuracy) of `model` on (X, y) in eval mode, one full batch.

    Parameters
    ----------
    model : torch.nn.Module
    X : Tensor of shape (N, D)
    y : Tensor of shape (N,), int64 class labels

    Returns
    -------
    loss, acc : float
        The model's train/eval mode is restored afterwards. A non-finite loss is returned as is.

    Examples
    --------
    >>> net = make_mlp(4, 3, width=8, depth=2)
    >>> loss, acc = evaluate(net, torch.zeros(6, 4), torch.zeros(6, dtype=torch.long))
    >>> round(loss, 4), acc  # zero input and zero biases give zero logits: loss ln 3
    (1.0986, 1.0)
    """
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(X)
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
    model.train(was_training)
    return loss, acc


@dataclass
class History:
    """What `train` records.

    Attributes
    ----------
    loss : ndarray of shape (S,)
        Mini-batch training loss at every step taken (S <= steps; shorter if it diverged).
    eval_step : ndarray of shape (E,)
        Steps at which the model was evaluated (0, eval_every, ..., and the last step).
    val_loss, val_acc : ndarray of shape (E,)
        Full-batch validation loss and accuracy (eval mode) at those steps.
    diverged : bool
        True if the training loss became non-finite; training stopped there.
    seconds : float
        Wall-clock time of the run.
    """

    loss: np.ndarray
    eval_step: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray
    diverged: bool = False
    seconds: float = 0.0

    @property
    def final_acc(self):
        """Validation accuracy at the end of training, NaN if the run diverged."""
        return float("nan") if self.diverged else float(self.val_acc[-1])

    def steps_to(self, acc):
        """First evaluated step with validation accuracy >= `acc`, or None if never reached."""
        hit = np.flatnonzero(self.val_acc >= acc)
        return int(self.eval_step[hit[0]]) if hit.size else None


def train(
    model,
    X,
    y,
    X_val,
    y_val,
    *,
    steps=500,
    batch_size=64,
    lr=0.1,
    momentum=0.0,
    seed=0,
    eval_every=50,
    callback=None,
):
    """Train `model` in place with SGD on cross-entropy; return a `History`.

    Parameters
    ----------
    model : torch.nn.Module
    X, y : Tensor of shape (N, D) and (N,)
        Training inputs and int64 labels; mini-batches are drawn from these.
    X_val, y_val : Tensor of shape (M, D) and (M,)
        Evaluated in full every `eval_every` steps.
    steps : int, default 500
    batch_size : int, default 64
        Mini-batches are consecutive slices of a fresh random permutation every epoch
        (sampling without replacement); the last incomplete slice of an epoch is dropped.
    lr, momentum : float
        Plain SGD (momentum 0 by default), no weight decay, constant learning rate.
    seed : int, default 0
        Seeds the batch order and torch's global generator (noise in `NoisyBatchNorm1d`).
    eval_every : int, default 50
    callback : callable, optional
        ``callback(step, model)`` after the backward pass and before the update, so gradients are
        available (see `gradient_norms`).

    Returns
    -------
    History

    Notes
    -----
    A step whose loss is non-finite stops training with ``diverged=True``; no update is taken
    from it. Chapter 8 runs every experiment through this loop.

    Examples
    --------
    >>> X = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    >>> y = (X[:, 0] > 0).long()
    >>> h = train(make_mlp(4, 2, width=16, depth=2), X, y, X, y, steps=100, batch_size=20)
    >>> h.loss.shape, h.eval_step.tolist(), bool(h.val_acc[-1] > 0.9)
    ((100,), [0, 50, 100], True)
    """
    if batch_size > len(X):
        raise ValueError(f"batch_size must be <= len(X) = {len(X)}, got {batch_size}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    per_epoch = len(X) // batch_size
    losses, evals, diverged = [], [], False
    start = time.perf_counter()
    model.train()
    evals.append((0, *evaluate(model, X_val, y_val)))
    for step in range(steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(X), generator=gen)
        idx = order[(step % per_epoch) * batch_size : (step % per_epoch + 1) * batch_size]
        loss = F.cross_entropy(model(X[idx]), y[idx])
        if not torch.isfinite(loss):
            diverged = True
            break
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        if callback is not None:
            callback(step, model)
        opt.step()
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            evals.append((step + 1, *evaluate(model, X_val, y_val)))
    eval_step, val_loss, val_acc = (np.array(c) for c in zip(*evals, strict=True))
    return History(
        loss=np.array(losses),
        eval_step=eval_step.astype(int),
        val_loss=val_loss,
        val_acc=val_acc,
        diverged=diverged,
        seconds=time.perf_counter() - start,
    )


@contextmanager
def batch_statistics(model):
    """Run `model` in training mode (BN uses batch statistics) without changing its state.

    Running means/variances and ``num_batches_tracked`` are restored on exit, and so is the
    train/eval mode, so a diagnostic forward pass leaves no trace in the model.

    Examples
    --------
    >>> net = make_mlp(4, 2, width=8, depth=1, norm="bn").eval()
    >>> with batch_statistics(net):
    ...     _ = net(torch.randn(10, 4))
    >>> net.training, net[1].running_mean.abs().max().item()
    (False, 0.0)
    """
    was_training = model.training
    saved = {name: buf.clone() for name, buf in model.named_buffers()}
    model.train()
    try:
        yield model
    finally:
        with torch.no_grad():
            for name, buf in model.named_buffers():
                buf.copy_(saved[name])
        model.train(was_training)


def record_activations(model, X):
    """Inputs of every activation layer of `model` on the batch `X`, in training mode.

    Parameters
    ----------
    model : torch.nn.Module
        Activation layers are the `torch.nn.ReLU`, `Tanh` and `Sigmoid` modules it contains.
    X : Tensor of shape (N, D)

    Returns
    -------
    list of Tensor, each of shape (N, width)
        The pre-activations z (what goes into the nonlinearity), one per hidden layer, in order.
        Computed under `batch_statistics`: BN normalizes with the statistics of `X`, as in
        training, and the model's buffers are left untouched.

    Examples
    --------
    >>> net = make_mlp(4, 2, width=8, depth=3, norm="bn")
    >>> zs = record_activations(net, torch.randn(50, 4))
    >>> len(zs), zs[0].shape, round(zs[0].mean().item(), 4) == 0  # BN: batch mean 0
    (3, torch.Size([50, 8]), True)
    """
    zs = []
    kinds = tuple(ACTIVATIONS.values())
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: zs.append(inp[0].detach().clone()))
        for m in model.modules()
        if isinstance(m, kinds)
    ]
    try:
        with batch_statistics(model), torch.no_grad():
            model(X)
    finally:
        for h in hooks:
            h.remove()
    return zs


def saturation(z, activation):
    """Fraction of pre-activations where the activation's slope is below 10% of its maximum.

    Parameters
    ----------
    z : Tensor of any shape
        Pre-activations (the input of the nonlinearity), e.g. from `record_activations`.
    activation : {"relu", "tanh", "sigmoid"}

    Returns
    -------
    float in [0, 1]

    Notes
    -----
    Slopes: sigmoid :math:`s(1-s)` with maximum 1/4, so saturated means
    :math:`|z| > 3.64`; tanh :math:`1-\\tanh^2 z` with maximum 1, saturated for
    :math:`|z| > 1.82`; ReLU has slope 0 for :math:`z \\le 0`, so for ReLU this is the fraction
    of inactive units. Where the slope is small, almost no gradient flows back.

    Examples
    --------
    >>> saturation(torch.tensor([-5.0, 0.0, 1.0, 5.0]), "sigmoid")
    0.5
    >>> saturation(torch.tensor([-1.0, 0.0, 2.0]), "relu")
    0.6666666865348816
    """
    if activation == "sigmoid":
        s = torch.sigmoid(z)
        slope = s * (1 - s) / 0.25
    elif activation == "tanh":
        slope = 1 - torch.tanh(z) ** 2
    elif activation == "relu":
        slope = (z > 0).to(z.dtype)
    else:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
    return (slope < 0.1).to(torch.float32).mean().item()


def gradient_norms(model):
    """Frobenius norm of the weight gradient of every Linear layer, input side first.

    Returns
    -------
    ndarray of shape (L,)
        ``||dL/dW_l||`` for the L Linear layers (hidden layers and head); call after backward.

    Examples
    --------
    >>> net = make_mlp(4, 2, width=8, depth=2)
    >>> F.cross_entropy(net(torch.randn(10, 4)), torch.zeros(10, dtype=torch.long)).backward()
    >>> gradient_norms(net).shape
    (3,)
    """
    return np.array(
        [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]
    )


def _loss_and_grad(model, X, y):
    model.zero_grad()
    loss = F.cross_entropy(model(X), y)
    loss.backward()
    grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    return loss.item(), grad


def landscape_along_gradient(model, X, y, etas):
    """Loss and gradient at points along the negative gradient, on one fixed batch.

    Parameters
    ----------
    model : torch.nn.Module
        Left unchanged (a copy is moved); BN uses the statistics of the batch, as in training.
    X, y : Tensor of shape (N, D) and (N,)
        The batch defining the loss :math:`L`.
    etas : sequence of float, length T
        Step sizes :math:`\\eta`.

    Returns
    -------
    dict with
        ``loss`` : ndarray (T,), :math:`L(\\theta - \\eta g)`
        ``grad_change`` : ndarray (T,), :math:`\\|\\nabla L(\\theta - \\eta g) - g\\|`
        ``beta`` : float, :math:`\\max_\\eta \\|\\nabla L(\\theta-\\eta g) - g\\| /
        \\|\\eta g\\|`, the "effective beta-smoothness" of Santurkar et al. (2018)
        ``grad_norm`` : float, :math:`\\|g\\|`

    Notes
    -----
    :math:`g = \\nabla L(\\theta)` at the current parameters. The spread of ``loss`` says how far
    the loss changes along the step; ``beta`` bounds how fast the gradient turns, a local
    Lipschitz constant of the gradient along that line. Chapter 8 compares both with and
    without BN.

    Examples
    --------
    >>> lin = nn.Linear(3, 2)
    >>> out = landscape_along_gradient(lin, torch.randn(8, 3), torch.zeros(8, dtype=torch.long),
    ...                                [0.1, 0.5])
    >>> out["loss"].shape, out["beta"] > 0
    ((2,), True)
    """
    probe = copy.deepcopy(model)
    with batch_statistics(probe):
        _, g = _loss_and_grad(probe, X, y)
        theta = nn.utils.parameters_to_vector(probe.parameters()).detach().clone()
        losses, changes = [], []
        for eta in etas:
            nn.utils.vector_to_parameters(theta - eta * g, probe.parameters())
            loss, g_eta = _loss_and_grad(probe, X, y)
            losses.append(loss)
            changes.append((g_eta - g).norm().item())
    etas = np.asarray(etas, dtype=float)
    changes = np.array(changes)
    g_norm = g.norm().item()
    return {
        "loss": np.array(losses),
        "grad_change": changes,
        "beta": float(np.max(changes / (etas * g_norm))),
        "grad_norm": g_norm,
    }
