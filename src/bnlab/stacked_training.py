"""Training M networks as one stack (chapter 8): `train_stacked`, `evaluate_stacked`, landscape.

The stack is a `bnlab.stacked_models.StackedMLP`. The models do not interact: the loss is the
sum of the M per-model losses, so each model's gradient is exactly the gradient of its own loss,
and `train_stacked` reproduces `bnlab.training.train` run on each model alone (same batches,
same noise, same updates) up to floating-point rounding; it draws its batches with the same
`bnlab.training.batch_order` and returns the same `bnlab.training.History`.
`landscape_stacked` is `bnlab.diagnostics.landscape_along_gradient` for every model at once.
"""

import copy
import time

import numpy as np
import torch
from torch.nn import functional as F

from bnlab.stacked_models import StackedMLP
from bnlab.training import History, batch_order, is_eval_step


def _per_model(value, name, M, *, positive=False):
    arr = np.full(M, value, dtype=float) if np.ndim(value) == 0 else np.array(value, dtype=float)
    if arr.shape != (M,):
        raise ValueError(
            f"{name} must be a number or have length {M} (one per model), got shape {arr.shape}"
        )
    if positive and not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0, got {value}")
    return arr


def stacked_loss(stack, X, y):
    """Per-model mean cross-entropy, shape (M,), of logits ``stack(X)`` against labels `y`.

    `X` is (N, D) or (M, N, D); `y` is (N,) or (M, N) to match.
    """
    logits = stack(X)
    M, N, K = logits.shape
    y = y.expand(M, N) if y.ndim == 1 else y
    per_example = F.cross_entropy(logits.reshape(M * N, K), y.reshape(-1), reduction="none")
    return per_example.reshape(M, N).mean(1), logits


def evaluate_stacked(stack, X, y):
    """Per-model (loss, accuracy) on the full batch (X, y) in eval mode, two arrays (M,)."""
    was_training = stack.training
    stack.eval()
    with torch.no_grad():
        loss, logits = stacked_loss(stack, X, y)
        acc = (logits.argmax(2) == y).float().mean(1)  # float32, as `evaluate`
    stack.train(was_training)
    return loss.numpy().astype(float), acc.numpy().astype(float)


def train_stacked(
    models,
    X,
    y,
    X_val,
    y_val,
    *,
    seeds,
    steps=500,
    batch_size=64,
    lr=0.1,
    eval_every=50,
    callback=None,
):
    """Train M networks at once with plain SGD; return the trained stack and M histories.

    Parameters
    ----------
    models : sequence of torch.nn.Sequential, length M
        Networks of one architecture (see `bnlab.stacked_models.StackedMLP`); they are not modified.
    X, y, X_val, y_val : Tensor
        As for `bnlab.training.train`.
    seeds : sequence of int, length M
        Model m's batch order and injected noise come from ``seeds[m]``, exactly as
        ``train(models[m], ..., seed=seeds[m])`` draws them.
    steps, batch_size, eval_every : int
        As for `bnlab.training.train`; the same for every model.
    lr : float or sequence of float of length M
        A learning rate for every model, or one for all.
    callback : callable, optional
        ``callback(step, stack)`` after the backward pass and before the update.

    Returns
    -------
    stack : bnlab.stacked_models.StackedMLP
        The trained networks; ``stack.member(m)`` is network m.
    histories : list of `bnlab.training.History`, length M
        History m equals what `train` returns for network m alone, up to rounding.

    Notes
    -----
    Each step sums the per-model losses, so each model gets the gradient of its own loss. A
    model whose loss becomes non-finite is marked diverged and frozen: no update is taken from
    that step on, as `train` stops there. Torch's global generator is not used.

    Examples
    --------
    >>> from bnlab.models import make_mlp
    >>> from bnlab.training import train
    >>> X = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    >>> y = (X[:, 0] > 0).long()
    >>> nets = [make_mlp(4, 2, width=16, depth=2, norm="bn", seed=s) for s in (0, 1)]
    >>> _, hs = train_stacked(nets, X, y, X, y, seeds=[0, 1], steps=60, batch_size=20)
    >>> alone = train(nets[1], X, y, X, y, steps=60, batch_size=20, seed=1)
    >>> bool(np.allclose(hs[1].loss, alone.loss, atol=1e-5))
    True
    """
    stack = StackedMLP(models)
    M = stack.num_models
    seeds = [int(s) for s in seeds]
    if len(seeds) != M:
        raise ValueError(f"seeds must have length {M} (one per model), got {len(seeds)}")
    lr = torch.as_tensor(_per_model(lr, "lr", M, positive=True))
    batches = batch_order(len(X), batch_size, seeds)
    stack.set_generators([torch.Generator().manual_seed(s) for s in seeds])
    params = list(stack.parameters())
    rates = [lr.to(p.dtype).view(-1, *([1] * (p.ndim - 1))) for p in params]
    alive = list(range(M))
    active = torch.ones(M, dtype=torch.bool)
    losses = [[] for _ in range(M)]
    evals = [[] for _ in range(M)]
    start = time.perf_counter()
    stack.train()

    def record(step):
        val_loss, val_acc = evaluate_stacked(stack, X_val, y_val)
        for m in np.flatnonzero(active.numpy()):
            evals[m].append((step, val_loss[m], val_acc[m]))

    record(0)
    for step in range(steps):
        idx = next(batches)
        loss, _ = stacked_loss(stack, X[idx], y[idx])
        values = loss.detach().tolist()
        for m in alive:
            if np.isfinite(values[m]):
                losses[m].append(values[m])
            else:
                active[m] = False
        alive = [m for m in alive if active[m]]
        if not alive:
            break
        for p in params:
            p.grad = None
        (loss.sum() if len(alive) == M else torch.where(active, loss, 0.0).sum()).backward()
        if callback is not None:
            callback(step, stack)
        with torch.no_grad():
            for p, rate in zip(params, rates, strict=True):
                if len(alive) == M:
                    p.addcmul_(rate, p.grad, value=-1.0)
                else:  # a diverged model's gradient may be NaN: keep its parameters as they are
                    keep = active.view(-1, *([1] * (p.ndim - 1)))
                    p.copy_(torch.where(keep, p - rate * p.grad, p))
        if is_eval_step(step + 1, steps, eval_every):
            record(step + 1)
    seconds = time.perf_counter() - start
    stack.set_generators(None)
    histories = [
        History.from_records(losses[m], evals[m], diverged=not bool(active[m]), seconds=seconds)
        for m in range(M)
    ]
    return stack, histories


def landscape_stacked(stack, X, y, etas):
    """`bnlab.diagnostics.landscape_along_gradient` for every model of the stack at once.

    Parameters
    ----------
    stack : bnlab.stacked_models.StackedMLP
        Left unchanged (a copy is moved); BN uses the statistics of the batch, no noise.
    X, y : Tensor of shape (N, D) and (N,)
        The batch defining each model's loss.
    etas : sequence of float, length T

    Returns
    -------
    dict with ``loss`` (M, T), ``grad_change`` (M, T), ``beta`` (M,), ``grad_norm`` (M,)
        Model m's values equal ``landscape_along_gradient(stack.member(m), X, y, etas)``.
    """
    from bnlab.diagnostics import batch_statistics

    probe = copy.deepcopy(stack)
    probe.set_generators(None)
    params = list(probe.parameters())

    def loss_and_grads():
        probe.zero_grad()
        loss, _ = stacked_loss(probe, X, y)
        loss.sum().backward()
        return loss.detach().numpy().astype(float), [p.grad.detach().clone() for p in params]

    def per_model_norm(tensors):
        return torch.sqrt(sum((t.reshape(t.shape[0], -1) ** 2).sum(1) for t in tensors))

    with batch_statistics(probe):
        _, g = loss_and_grads()
        theta = [p.detach().clone() for p in params]
        losses, changes = [], []
        for eta in etas:
            with torch.no_grad():
                for p, t, gp in zip(params, theta, g, strict=True):
                    p.copy_(t - eta * gp)
            loss, g_eta = loss_and_grads()
            losses.append(loss)
            changes.append(per_model_norm([a - b for a, b in zip(g_eta, g, strict=True)]).numpy())
    etas = np.asarray(etas, dtype=float)
    changes = np.array(changes).T
    g_norm = per_model_norm(g).numpy()
    return {
        "loss": np.array(losses).T,
        "grad_change": changes,
        "beta": np.max(changes / (etas[None] * g_norm[:, None]), axis=1),
        "grad_norm": g_norm,
    }
