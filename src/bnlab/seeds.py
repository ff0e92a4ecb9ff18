"""One knob for every random seed of the course: the environment variable ``BNLAB_SEED``.

Every chapter draws its seeds through `seed` (data split and order, initialization, batches,
injected noise, simulations). With ``BNLAB_SEED`` unset the default seeds are used; with
``BNLAB_SEED=k`` every seed is shifted by ``k * STRIDE``, so the whole book can be rerun on
fresh randomness and every experimental verdict checked again (``make test`` does this for two
fixed offsets and one drawn per run; ``make verdicts`` reports every verdict's margin over ten).
A verdict that fails under other seeds is a wrong verdict, not bad luck.
"""

import os

import numpy as np

ENV = "BNLAB_SEED"
# A file that `bnlab.experiments.Verdicts` appends every verdict's margin to (``make verdicts``).
VERDICTS_ENV = "BNLAB_VERDICTS"
STRIDE = 1000  # chapters use base seeds below STRIDE, so shifted seed sets never overlap


def offset():
    """The seed offset from ``BNLAB_SEED``: 0 when unset or empty.

    Returns
    -------
    int, >= 0

    Raises
    ------
    ValueError
        If ``BNLAB_SEED`` is set to anything but a non-negative integer.

    Examples
    --------
    >>> os.environ.pop(ENV, None) and None
    >>> offset()
    0
    """
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise ValueError(f"{ENV} must be a non-negative integer, got {raw!r}")
    return int(raw)


def seed(k=0):
    """The seed number `k` of a chapter, shifted by the ``BNLAB_SEED`` offset.

    Parameters
    ----------
    k : int, default 0
        The chapter's own seed, ``0 <= k < STRIDE``.

    Returns
    -------
    int
        ``k + STRIDE * offset()``.

    Examples
    --------
    >>> os.environ[ENV] = "2"
    >>> seed(0), seed(7)
    (2000, 2007)
    >>> del os.environ[ENV]
    >>> seed(7)
    7
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if not 0 <= k < STRIDE:
        raise ValueError(f"k must be in [0, {STRIDE}), got {k}")
    return int(k) + STRIDE * offset()


def rng(k=0):
    """A numpy `Generator` seeded with ``seed(k)``.

    Examples
    --------
    >>> float(rng(3).random()) == float(np.random.default_rng(seed(3)).random())
    True
    """
    return np.random.default_rng(seed(k))
