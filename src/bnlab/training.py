"""The training loop of the experiments (chapters 6-8): `train`, its `History`, `evaluate`.

`train` is a seeded SGD loop that returns a `History`. Arrays go in as torch tensors: inputs
``X`` of shape (N, D), float32, and integer class labels ``y`` of shape (N,). The networks are
in `bnlab.models`, the diagnostics in `bnlab.diagnostics`.
"""

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F


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
    >>> from bnlab.models import make_mlp
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
    >>> from bnlab.models import make_mlp
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
