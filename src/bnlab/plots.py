"""The figures of chapter 8: runs over seeds as a band, and a sweep's final accuracies.

A chapter's figure shows many runs of one setting at once: `band` draws their mean as a line and
their range (min to max over seeds) as a shaded band, `plot_sweep` draws every seed's final
accuracy at each grid point of a sweep. Runs that diverged stop early and have shorter curves;
`pad` lines them up with NaN, which the mean skips.
"""

import numpy as np

from bnlab.experiments import TRAINED, final_acc, mean_finite


def pad(curves):
    """Stack 1-D curves of different lengths (a diverged run stops early), padded with NaN.

    Examples
    --------
    >>> pad([[1.0, 2.0, 3.0], [4.0]])
    array([[ 1.,  2.,  3.],
           [ 4., nan, nan]])
    """
    curves = [np.asarray(c, dtype=float) for c in curves]
    if not curves or any(c.ndim != 1 for c in curves):
        raise ValueError("curves must be a non-empty sequence of 1-D arrays")
    out = np.full((len(curves), max(len(c) for c in curves)), np.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = c
    return out


def smooth(values, k=20):
    """The running mean over `k` consecutive values (``len(values) - k + 1`` of them).

    Examples
    --------
    >>> smooth([1.0, 2.0, 3.0, 4.0], k=2).tolist()
    [1.5, 2.5, 3.5]
    """
    return np.convolve(values, np.ones(k) / k, mode="valid")


def longest(histories):
    """The evaluation steps of the run that lasted longest (the x axis of a band of curves)."""
    return max((h.eval_step for h in histories), key=len)


def band(ax, x, curves, color, label):
    """Mean over seeds as a line, min to max over seeds as a shaded band, on `ax`.

    `x` holds at least as many points as the longest curve; a curve that ended early (a
    diverged run) leaves the mean to the others from there on.
    """
    arr = pad(curves)
    x = np.asarray(x)[: arr.shape[1]]
    ax.plot(x, [mean_finite(col) for col in arr.T], color=color, label=label)
    ax.fill_between(x, np.fmin.reduce(arr), np.fmax.reduce(arr), color=color, alpha=0.25, lw=0)


def plot_sweep(ax, xs, sweeps, colors, labels):
    """Final accuracy per seed (dots), mean of the runs that did not diverge (line), and a cross
    at the bottom where some run diverged, for each network's `bnlab.experiments.Sweep`.

    Parameters
    ----------
    ax : matplotlib Axes
    xs : array_like of shape (G,)
        The swept values (learning rates, initialization scales), drawn on a log axis.
    sweeps : dict
        Network name -> `Sweep` over `xs`.
    colors, labels : dict
        Network name -> its color and its legend label.
    """
    xs = np.asarray(xs)
    for norm, sw in sweeps.items():
        acc = final_acc(sw.histories)
        if acc.shape[0] != len(xs):
            raise ValueError(f"sweep {norm!r} has {acc.shape[0]} grid points, xs has {len(xs)}")
        ax.plot(np.repeat(xs, acc.shape[1]), acc.ravel(), "o", color=colors[norm], ms=3, alpha=0.6)
        ax.plot(xs, [mean_finite(r) for r in acc], color=colors[norm], label=labels[norm])
        div = np.isnan(acc).any(axis=1)
        ax.plot(xs[div], np.full(div.sum(), 0.02), "x", color=colors[norm], ms=8)
    ax.axhline(TRAINED, color="grey", ls=":", lw=1)
    ax.set(xscale="log", ylabel="final validation accuracy", ylim=(0, 1))
    ax.legend(loc="center left")
