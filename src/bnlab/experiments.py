"""The experiment protocol of chapter 8: sweeps trained as one stack, and verdicts as statistics.

A verdict about trained networks is a statistic over seeds. `compare` and `within` turn the
per-seed results of two settings into a difference of means with its standard error, and
decide only when the difference clears a margin of `K_SE` standard errors; otherwise the
answer is "no measurable difference". `sweep` trains every seed (and every learning rate or
initialization scale of a grid) of one architecture together with `bnlab.stacked_training`.
"""

import json
import os
from dataclasses import dataclass

import numpy as np
import torch

from bnlab import seeds as _seeds
from bnlab.models import make_mlp
from bnlab.stacked_training import train_stacked

K_SE = 3.0  # a difference counts only beyond 3 standard errors


def mean_se(values, *, trim=0.0):
    """Mean and standard error of the mean of 1-D `values` (ddof=1); NaN entries are refused.

    With ``trim > 0`` the mean is the trimmed mean that leaves out ``g = int(trim * n)`` of the
    smallest and as many of the largest values, and its standard error is Tukey and
    McLaughlin's: the standard deviation (ddof=1) of the values winsorized at those ``g``,
    divided by ``(1 - 2 g / n) * sqrt(n)`` (the proportion actually cut, so that a trim that
    cuts nothing gives the plain standard error). A run that failed outright (trained to
    nothing, or stuck) then weighs no more than any other extreme seed.

    Examples
    --------
    >>> mean_se([1.0, 2.0, 3.0])
    (2.0, 0.5773502691896258)
    >>> m, se = mean_se([1.0, 2.0, 3.0, 4.0, 100.0], trim=0.2)
    >>> round(m, 4), round(se, 4)
    (3.0, 0.7454)
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"values must be 1-D with at least 2 entries, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError("values must not contain NaN (count diverged runs separately)")
    if not 0.0 <= trim < 0.5:
        raise ValueError(f"trim must be a proportion in [0, 0.5), got {trim!r}")
    if trim == 0:
        return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))
    n, g = x.size, int(trim * x.size)
    if n - 2 * g < 2:
        raise ValueError(f"trim={trim} leaves fewer than 2 of {n} values")
    from scipy.stats import trim_mean

    low, high = np.sort(x)[[g, n - 1 - g]]
    winsorized = np.clip(x, low, high)
    se = winsorized.std(ddof=1) / ((1 - 2 * g / n) * np.sqrt(n))
    return float(trim_mean(x, trim)), float(se)


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
    trim: float = 0.0

    @property
    def verdict(self):
        if self.diff > self.k * self.se:
            return "greater"
        if self.diff < -self.k * self.se:
            return "less"
        return "no measurable difference"

    def __str__(self):
        lhs = "a - b" if self.factor == 1 else f"a - {self.factor:g} b"
        means = f" ({self.trim:.0%} trimmed means)" if self.trim else ""
        return f"{lhs} = {self.diff:+.3g} ± {self.se:.2g} (SE){means}: {self.verdict}"


def compare(a, b, *, factor=1.0, k=K_SE, trim=0.0):
    """Compare the per-seed results `a` and `b`: is ``mean(a) - factor*mean(b)`` beyond k SE?

    Parameters
    ----------
    a, b : array_like, 1-D
        One value per seed (independent runs).
    factor : float, default 1
        Tests a ratio claim "a is more than `factor` times b" as a difference.
    k : float, default `K_SE`
    trim : float, default 0
        Compare trimmed means instead (see `mean_se`): for results where now and then a seed
        fails outright, so that one run would decide the verdict alone.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> compare([10.0, 11, 12], [1.0, 1.2, 0.8], factor=5).verdict
    'greater'
    >>> compare([1.0, 2, 3], [1.5, 2.5, 2.0]).verdict
    'no measurable difference'
    >>> compare([0.96, 0.97, 0.95, 0.96, 0.10], [0.95, 0.96, 0.96, 0.97, 0.95], trim=0.2).verdict
    'no measurable difference'
    """
    (ma, sa), (mb, sb) = mean_se(a, trim=trim), mean_se(b, trim=trim)
    return Comparison(
        diff=ma - factor * mb,
        se=float(np.hypot(sa, factor * sb)),
        k=k,
        factor=factor,
        trim=trim,
    )


def within(a, b, tol, *, k=K_SE, trim=0.0):
    """True if ``|mean(a) - mean(b)| + k*SE < tol``: the difference is shown to be small.

    `trim` as in `compare`.

    Examples
    --------
    >>> within([0.95, 0.96, 0.97], [0.96, 0.95, 0.97], tol=0.05)
    True
    """
    c = compare(a, b, k=k, trim=trim)
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


TRAINED = 0.9  # a run "trained" if it ends at this validation accuracy or above


def acc_or_zero(histories):
    """Final validation accuracy of each run with a diverged run counted as 0: it failed.

    Examples
    --------
    >>> from bnlab.training import History
    >>> ok = History.from_records([0.5], [(1, 0.3, 0.95)], diverged=False)
    >>> gone = History.from_records([0.5, float("nan")], [(1, 0.3, 0.2)], diverged=True)
    >>> acc_or_zero([ok, gone]).tolist()
    [0.95, 0.0]
    """
    return np.nan_to_num(final_acc(histories), nan=0.0)


def status(history):
    """``"diverged"``, ``"trained"`` (final validation accuracy at least `TRAINED`) or ``"failed"``.

    Examples
    --------
    >>> from bnlab.training import History
    >>> status(History.from_records([0.5], [(1, 0.3, 0.95)], diverged=False))
    'trained'
    >>> status(History.from_records([0.5], [(1, 2.1, 0.40)], diverged=False))
    'failed'
    """
    if history.diverged:
        return "diverged"
    return "trained" if history.final_acc >= TRAINED else "failed"


def trains(histories):
    """A setting trains: its mean final accuracy over seeds (diverged: 0) is at least `TRAINED`."""
    return bool(acc_or_zero(histories).mean() >= TRAINED)


def mean_finite(values):
    """Mean of the finite entries (the runs that did not diverge); NaN if there are none.

    Examples
    --------
    >>> mean_finite([1.0, float("nan"), 3.0])
    2.0
    >>> mean_finite([float("nan")])
    nan
    """
    v = np.asarray(values, dtype=float)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")


@dataclass
class Sweep:
    """A grid of runs trained as one stack.

    Attributes
    ----------
    stack : bnlab.stacked_models.StackedMLP
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
        ``callback(step, stack)``, see `bnlab.stacked_training.train_stacked`.
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


RECORD_ENV = _seeds.VERDICTS_ENV  # a file path: every verdict appends its margin there


def _worst(z, sense):
    z = np.asarray(z, dtype=float)
    if z.size == 0:
        raise ValueError("a verdict needs at least one value, got an empty array")
    if np.isnan(z).any():
        return float("nan")
    return float(z.min() if sense == ">" else z.max())


class Verdicts:
    """The claims a chapter asserts, each checked where it is made, each with its margin.

    A verdict on a random quantity is a statistic: `above`, `below` and `near` compare a value
    with a threshold in units of its standard error `se` and require `k` of them; with ``se=0``
    (a seed-independent quantity, or an exact identity up to rounding) the margin is the plain
    distance to the threshold. Arrays are one claim about every entry, decided by the worst
    entry (pass a `k` that allows for the number of entries, see `k_for`). `check` records a
    bare true/false claim.

    Every verdict prints one line, ``ok`` or ``FAIL``, with its margin. With the environment
    variable ``BNLAB_VERDICTS`` naming a file (``make verdicts`` does this), every verdict also
    appends one JSON line there, ``{"claim", "margin", "bound", "sense", "unit", "ok", "offset"}``
    (``ok`` means ``margin sense bound``), and a failed verdict does not raise, so one run
    measures every margin of a chapter.

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
    >>> v.above("the mean is above 1", 1.5, 1.0, se=0.1, k=3)
    ok   the mean is above 1  [1.5 vs 1: 5.0 SE > 3]
    """

    def __init__(self, strict=True):
        self.strict = strict
        self.results = {}
        self.margins = {}

    def check(self, claim, ok, evidence="", *, margin=None, bound=None, sense=">", unit="SE"):
        """Record and print one claim with the statistic that backs it.

        `margin`, `bound`, `sense` (">" or "<") and `unit` ("SE" or "abs") say how close the
        claim is to failing; they are recorded for ``make verdicts`` when given.
        """
        ok = bool(ok)
        if claim in self.results:
            raise ValueError(f"claim {claim!r} is checked twice; give each claim its own words")
        self.results[claim] = (ok, evidence)
        if margin is not None:
            self.margins[claim] = (margin, bound, sense, unit)
        print(f"{'ok  ' if ok else 'FAIL'} {claim}" + (f"  [{evidence}]" if evidence else ""))
        if margin is None:
            bound = sense = unit = None
        self._record(claim, ok, margin, bound, sense, unit)
        if self.strict and not ok and not os.environ.get(RECORD_ENV):
            raise AssertionError(f"the measurements no longer support: {claim} ({evidence})")

    def _record(self, claim, ok, margin, bound, sense, unit):
        path = os.environ.get(RECORD_ENV)
        if not path:
            return
        line = {
            "claim": claim,
            "ok": ok,
            "offset": _seeds.offset(),
            "margin": margin,
            "bound": bound,
            "sense": sense,
            "unit": unit,
        }
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, allow_nan=True) + "\n")

    def _compare(self, claim, value, threshold, se, k, sense, evidence):
        value, threshold = np.asarray(value, float), np.asarray(threshold, float)
        gap = value - threshold if sense == ">" else threshold - value
        margin, bound, unit = _in_units(gap, se, k, ">")
        text = {
            "abs": f"{margin:+.3g} beyond the threshold",
            "SE": f"{margin:.1f} SE > {k:g}",
            None: "no standard error",
        }[unit]
        shown = evidence or _short(value, threshold)
        self._decide(claim, margin, bound, ">", unit, f"{shown}: {text}")

    def _decide(self, claim, margin, bound, sense, unit, evidence):
        ok = margin > bound if sense == ">" else margin < bound
        self.check(claim, ok, evidence, margin=margin, bound=bound, sense=sense, unit=unit or "SE")

    def above(self, claim, value, threshold, se=0.0, *, k=K_SE, evidence=""):
        """Claim ``value > threshold`` by more than `k` standard errors `se` (every entry)."""
        self._compare(claim, value, threshold, se, k, ">", evidence)

    def below(self, claim, value, threshold, se=0.0, *, k=K_SE, evidence=""):
        """Claim ``value < threshold`` by more than `k` standard errors `se` (every entry)."""
        self._compare(claim, value, threshold, se, k, "<", evidence)

    def near(self, claim, value, target, se, *, k=K_SE, tol=0.0, evidence=""):
        """Claim ``|value - target| < k * se + tol``: a measurement agrees with a prediction.

        The margin is ``(|value - target| - tol) / se`` standard errors, below `k` to pass (with
        ``se=0``: ``|value - target| - tol``, below 0).
        """
        value, target = np.asarray(value, float), np.asarray(target, float)
        margin, bound, unit = _in_units(np.abs(value - target) - tol, se, k, "<")
        text = {
            "abs": f"off by {margin + tol:.3g}, tolerance {tol:.3g}",
            "SE": f"{margin:.1f} SE < {k:g}",
            None: "no standard error",
        }[unit]
        shown = evidence or _short(value, target)
        self._decide(claim, margin, bound, "<", unit, f"{shown}: {text}")

    def compared(self, claim, comparison, verdict="greater", evidence=""):
        """Claim that a `Comparison` gives `verdict` ("greater" or "less") at its `k`."""
        if verdict not in ("greater", "less"):
            raise ValueError(f"verdict must be 'greater' or 'less', got {verdict!r}")
        sign = 1 if verdict == "greater" else -1
        margin = (
            sign * comparison.diff / comparison.se
            if comparison.se > 0
            else float("inf" if sign * comparison.diff > 0 else "-inf")
        )
        self.check(
            claim,
            comparison.verdict == verdict,
            f"{evidence + ': ' if evidence else ''}{comparison}",
            margin=margin,
            bound=float(comparison.k),
            sense=">",
            unit="SE",
        )


def _in_units(distance, se, k, sense):
    """The worst entry of `distance` in standard errors `se`, as ``(margin, bound, unit)``.

    With ``se == 0`` everywhere (a seed-independent quantity) the margin is the plain distance,
    to be beyond 0 (unit "abs"); otherwise it is ``distance / se``, to be beyond `k` (unit
    "SE"), and an entry without spread among entries with spread is certain. A NaN standard
    error supports no claim: a NaN margin, and the unit None. `sense` says which end is worst:
    ">" the smallest, "<" the largest.
    """
    distance, se = np.asarray(distance, float), np.asarray(se, float)
    if np.any(se < 0):
        raise ValueError(f"se must be >= 0, got {se}")
    if np.any(se == 0) and np.any(se > 0):
        se = np.where(se == 0, np.finfo(float).tiny, se)
    if np.all(se == 0):
        return _worst(distance, sense), 0.0, "abs"
    if np.all(se > 0):
        return _worst(distance / se, sense), float(k), "SE"
    return float("nan"), float(k), None


def _short(value, threshold):
    def fmt(a):
        a = np.asarray(a)
        return f"{float(a):.3g}" if a.size == 1 else f"{a.size} values"

    return f"{fmt(value)} vs {fmt(threshold)}"


def k_for(n, *, k=K_SE):
    """The number of standard errors for a claim about each of `n` items at once.

    A claim about every one of `n` items holds by chance failure in about `n` times the
    probability of one claim. ``k_for(n)`` keeps the family's two-sided normal tail
    probability at that of a single claim at `k` (Bonferroni): ``2 n Q(k') = 2 Q(k)``.

    Examples
    --------
    >>> k_for(1) == K_SE
    True
    >>> round(k_for(10, k=3.0), 2)
    3.64
    """
    from scipy.stats import norm

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return float(-norm.ppf(norm.sf(k) / n)) if n > 1 else float(k)
