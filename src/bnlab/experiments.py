"""The experiment protocol of chapter 8: sweeps trained as one stack, and verdicts as statistics.

A verdict about trained networks is a statistic over seeds. `compare` and `within` turn the
per-seed results of two settings into a difference of means with its standard error, and
decide only when the difference clears a margin of `K_SE` standard errors; otherwise the
answer is "no measurable difference". `sweep` trains every seed (and every learning rate or
initialization scale of a grid) of one architecture together with `bnlab.stacked`.
"""

from dataclasses import dataclass

import numpy as np
import torch

from bnlab.models import make_mlp
from bnlab.stacked import train_stacked

K_SE = 3.0  # a difference counts only beyond 3 standard errors


def mean_se(values):
    """Mean and standard error of the mean of 1-D `values` (ddof=1); NaN entries are refused.

    Examples
    --------
    >>> mean_se([1.0, 2.0, 3.0])
    (2.0, 0.5773502691896258)
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"values must be 1-D with at least 2 entries, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError("values must not contain NaN (count diverged runs separately)")
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def interval(values, *, k=K_SE):
    """The interval mean ± k standard errors of 1-D `values`, as (low, high).

    Examples
    --------
    >>> low, high = interval([2.0, 4.0, 6.0], k=1)
    >>> round(low, 4), round(high, 4)
    (2.8453, 5.1547)
    """
    m, se = mean_se(values)
    return m - k * se, m + k * se


@dataclass(frozen=True)
class Comparison:
    """``mean(a) - factor * mean(b)`` with its standard error and the verdict it supports.

    Attributes
    ----------
    diff, se : float
        The difference and its standard error (independent samples).
    verdict : {"greater", "less", "no measurable difference"}
        "greater" if ``diff > k * se``, "less" if ``diff < -k * se``.
    """

    diff: float
    se: float
    k: float
    factor: float = 1.0

    @property
    def verdict(self):
        if self.diff > self.k * self.se:
            return "greater"
        if self.diff < -self.k * self.se:
            return "less"
        return "no measurable difference"

    def __str__(self):
        lhs = "a - b" if self.factor == 1 else f"a - {self.factor:g} b"
        return f"{lhs} = {self.diff:+.3g} ± {self.se:.2g} (SE): {self.verdict}"


def compare(a, b, *, factor=1.0, k=K_SE):
    """Compare the per-seed results `a` and `b`: is ``mean(a) - factor*mean(b)`` beyond k SE?

    Parameters
    ----------
    a, b : array_like, 1-D
        One value per seed (independent runs).
    factor : float, default 1
        Tests a ratio claim "a is more than `factor` times b" as a difference.
    k : float, default `K_SE`

    Returns
    -------
    Comparison

    Examples
    --------
    >>> compare([10.0, 11, 12], [1.0, 1.2, 0.8], factor=5).verdict
    'greater'
    >>> compare([1.0, 2, 3], [1.5, 2.5, 2.0]).verdict
    'no measurable difference'
    """
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    return Comparison(
        diff=ma - factor * mb, se=float(np.hypot(sa, factor * sb)), k=k, factor=factor
    )


def within(a, b, tol, *, k=K_SE):
    """True if ``|mean(a) - mean(b)| + k*SE < tol``: the difference is shown to be small.

    Examples
    --------
    >>> within([0.95, 0.96, 0.97], [0.96, 0.95, 0.97], tol=0.05)
    True
    """
    c = compare(a, b, k=k)
    return bool(abs(c.diff) + k * c.se < tol)


def steps_to(histories, acc, budget):
    """Steps each run needed to reach validation accuracy `acc`; `budget` if it never did.

    Parameters
    ----------
    histories : sequence of `bnlab.training.History`
    acc : float
    budget : int
        Stands in for "not within the budget", which makes a mean of it an underestimate.

    Returns
    -------
    ndarray of shape (len(histories),), float
    """
    return np.array(
        [budget if h.steps_to(acc) is None else h.steps_to(acc) for h in histories], dtype=float
    )


def final_acc(histories):
    """Final validation accuracy of each run (NaN for a diverged run), same shape as input."""
    return np.vectorize(lambda h: h.final_acc, otypes=[float])(np.asarray(histories))


@dataclass
class Sweep:
    """A grid of runs trained as one stack.

    Attributes
    ----------
    stack : bnlab.stacked.StackedMLP
        Network ``g * S + s`` is grid point g, seed s.
    histories : ndarray of History, shape (G, S)
    grid : ndarray of shape (G,)
        The learning rates or initialization scales swept (a single value when none is).
    """

    stack: object
    histories: np.ndarray
    grid: np.ndarray

    def member(self, g, s):
        """The trained network of grid point `g` and seed index `s`."""
        return self.stack.member(g * self.histories.shape[1] + s)


def sweep(
    data,
    norm,
    seeds,
    steps,
    *,
    lr=0.1,
    init_scale=1.0,
    batch_size=64,
    depth=8,
    width=64,
    activation="relu",
    norm_kwargs=None,
    eval_every=25,
    callback=None,
    prepare=None,
):
    """Train `make_mlp` networks for every seed and grid point together; return a `Sweep`.

    Parameters
    ----------
    data : tuple (X_train, y_train, X_val, y_val) of tensors, e.g. from `bnlab.data.digits_tensors`
    norm : {None, "bn", "noisy_bn", "ln", "gn"}
    seeds : sequence of int, length S
        Seed of the initialization, batch order and noise of each run (the same seeds at every
        grid point, so the grid points are compared on the same draws).
    steps : int
    lr, init_scale : float or 1-D array
        At most one of them is an array: the grid of G values swept.
    batch_size, depth, width, activation, norm_kwargs :
        As for `bnlab.models.make_mlp` and `bnlab.training.train`.
    eval_every : int, default 25
    callback : callable, optional
        ``callback(step, stack)``, see `bnlab.stacked.train_stacked`.
    prepare : callable, optional
        ``prepare(g, model)`` may change network g's initial weights in place before training.

    Returns
    -------
    Sweep

    Examples
    --------
    >>> from bnlab.data import digits_tensors
    >>> data = digits_tensors()
    >>> out = sweep(data, "bn", seeds=[0, 1], steps=20, lr=np.array([0.1, 0.2]), depth=2)
    >>> out.histories.shape, out.grid.tolist()
    ((2, 2), [0.1, 0.2])
    """
    lrs, scales = np.atleast_1d(lr).astype(float), np.atleast_1d(init_scale).astype(float)
    if lrs.size > 1 and scales.size > 1:
        raise ValueError("at most one of lr and init_scale may be a grid (1-D array)")
    G, seeds = max(lrs.size, scales.size), [int(s) for s in seeds]
    grid = scales if scales.size > 1 else lrs
    lrs, scales = np.broadcast_to(lrs, (G,)), np.broadcast_to(scales, (G,))
    models = []
    for g in range(G):
        for s in seeds:
            model = make_mlp(
                data[0].shape[1],
                10,
                width=width,
                depth=depth,
                norm=norm,
                activation=activation,
                init_scale=scales[g],
                norm_kwargs=norm_kwargs,
                seed=s,
            )
            if prepare is not None:
                with torch.no_grad():
                    prepare(g, model)
            models.append(model)
    stack, hs = train_stacked(
        models,
        *data,
        seeds=seeds * G,
        steps=steps,
        batch_size=batch_size,
        lr=np.repeat(lrs, len(seeds)),
        eval_every=eval_every,
        callback=callback,
    )
    histories = np.empty((G, len(seeds)), dtype=object)
    for i, h in enumerate(hs):
        histories[i // len(seeds), i % len(seeds)] = h
    return Sweep(stack=stack, histories=histories, grid=np.array(grid))


class Verdicts:
    """The claims a chapter asserts, each checked at the end of the section it backs.

    Parameters
    ----------
    strict : bool, default True
        Raise `AssertionError` as soon as a claim fails (the book build stops); with False a
        failed claim is only printed as ``FAIL``.

    Examples
    --------
    >>> v = Verdicts()
    >>> v.check("two is more than one", 2 > 1, "2 vs 1")
    ok   two is more than one  [2 vs 1]
    >>> v.results["two is more than one"]
    (True, '2 vs 1')
    """

    def __init__(self, strict=True):
        self.strict = strict
        self.results = {}

    def check(self, claim, ok, evidence=""):
        """Record and print one claim with the statistic that backs it."""
        ok = bool(ok)
        self.results[claim] = (ok, evidence)
        print(f"{'ok  ' if ok else 'FAIL'} {claim}" + (f"  [{evidence}]" if evidence else ""))
        if self.strict and not ok:
            raise AssertionError(f"the measurements no longer support: {claim} ({evidence})")
