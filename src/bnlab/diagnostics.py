"""Diagnostics of a network that chapter 8 plots: activations, saturation, gradients, landscape.

`record_activations`, `saturation`, `gradient_norms` and `landscape_along_gradient` measure a
`bnlab.models.make_mlp` network; `batch_statistics` runs it with batch statistics without
changing its state. Inputs are torch tensors ``X`` of shape (N, D) and labels ``y`` of shape (N,).
"""

import copy
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bnlab.models import ACTIVATIONS


@contextmanager
def batch_statistics(model):
    """Run `model` in training mode (BN uses batch statistics) without changing its state.

    Running means/variances and ``num_batches_tracked`` are restored on exit, and so is the
    train/eval mode, so a diagnostic forward pass leaves no trace in the model.

    Examples
    --------
    >>> from bnlab.models import make_mlp
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
    >>> from bnlab.models import make_mlp
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
    >>> from bnlab.models import make_mlp
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
