"""The training loop of the experiments (chapters 6-8): `train`, its `History`, `evaluate`.

`train` is a seeded SGD loop that returns a `History`. Arrays go in as torch tensors: inputs
``X`` of shape (N, D), float32, and integer class labels ``y`` of shape (N,). The networks are
in `bnlab.models`, the diagnostics in `bnlab.diagnostics`.

What every trainer of the course shares is here, once: the seeded order of the mini-batches
(`batch_order`), the steps at which a loop evaluates (`is_eval_step`) and the assembly of what it
recorded into a `History` (`History.from_records`). `train` runs one network;
`bnlab.stacked_training.train_stacked` runs M networks as one stack and
`bnlab.dataparallel.train_data_parallel` runs a stack on several processes, each process taking
its slice of every mini-batch.
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

    @classmethod
    def from_records(cls, losses, evals, *, diverged, seconds=0.0):
        """The `History` of one run from what its loop recorded.

        Parameters
        ----------
        losses : sequence of float, length S
            The training loss of every step taken.
        evals : sequence of (step, val_loss, val_acc), length E
            One triple per evaluation, in order.
        diverged : bool
        seconds : float, default 0.0

        Examples
        --------
        >>> h = History.from_records([2.3, 2.1], [(0, 2.4, 0.1), (2, 2.0, 0.3)], diverged=False)
        >>> h.eval_step.tolist(), h.val_acc.tolist(), h.final_acc
        ([0, 2], [0.1, 0.3], 0.3)
        """
        eval_step, val_loss, val_acc = (np.array(c) for c in zip(*evals, strict=True))
        return cls(
            loss=np.array(losses),
            eval_step=eval_step.astype(int),
            val_loss=val_loss,
            val_acc=val_acc,
            diverged=diverged,
            seconds=seconds,
        )

    def steps_to(self, acc):
        """First evaluated step with validation accuracy >= `acc`, or None if never reached."""
        hit = np.flatnonzero(self.val_acc >= acc)
        return int(self.eval_step[hit[0]]) if hit.size else None


def batch_order(n, batch_size, seeds):
    """The seeded order of the mini-batches of M runs: an endless iterator, one item per step.

    Parameters
    ----------
    n : int
        Examples in the training set.
    batch_size : int, 1 <= batch_size <= n
    seeds : sequence of int, length M
        Run m's order comes from a ``torch.Generator`` seeded with ``seeds[m]``.

    Yields
    ------
    idx : Tensor of shape (M, batch_size), int64
        Row m holds the indices of run m's mini-batch at this step. Each epoch, a run draws a
        fresh random permutation of ``range(n)`` and cuts it into consecutive slices of
        `batch_size` (sampling without replacement); the last incomplete slice is dropped.

    Examples
    --------
    >>> batches = batch_order(5, 2, seeds=[0, 1])
    >>> epoch = [next(batches) for _ in range(2)]  # 5 // 2 = 2 steps per epoch
    >>> epoch[0].shape, [len(set(torch.cat([b[m] for b in epoch]).tolist())) for m in (0, 1)]
    (torch.Size([2, 2]), [4, 4])
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if batch_size > n:
        raise ValueError(f"batch_size must be <= len(X) = {n}, got {batch_size}")
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    return _batches(n, batch_size, gens)


def _batches(n, batch_size, gens):
    while True:
        orders = torch.stack([torch.randperm(n, generator=g) for g in gens])
        for k in range(n // batch_size):
            yield orders[:, k * batch_size : (k + 1) * batch_size]


def is_eval_step(done, steps, eval_every):
    """Whether a loop of `steps` steps evaluates after its first `done` steps.

    It evaluates before the first step (``done == 0``), every `eval_every` steps and after the
    last one.

    Examples
    --------
    >>> [d for d in range(11) if is_eval_step(d, steps=10, eval_every=4)]
    [0, 4, 8, 10]
    """
    return done % eval_every == 0 or done == steps


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
    batches = batch_order(len(X), batch_size, [seed])
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses, evals, diverged = [], [], False
    start = time.perf_counter()
    model.train()
    evals.append((0, *evaluate(model, X_val, y_val)))
    for step in range(steps):
        (idx,) = next(batches)
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
        if is_eval_step(step + 1, steps, eval_every):
            evals.append((step + 1, *evaluate(model, X_val, y_val)))
    return History.from_records(
        losses, evals, diverged=diverged, seconds=time.perf_counter() - start
    )
