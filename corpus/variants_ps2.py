"""Problem set 2 (gradient variance): answer cells of the corpus variants.

Written from the student notebook's task texts only (see corpus/README.md).
"""

from edits import sub as _sub
from edits import with_cells as _with

EXACT_NUMPY = '''
def minibatch_grad_var(G, B, replace=True):
    """Exact per-coordinate variance of the mean of B random rows of G."""
    G = np.asarray(G)
    n = G.shape[0]
    sigma2 = G.var(axis=0)
    if replace:
        return sigma2 / B
    if B > n:
        raise ValueError(f"B={B} rows cannot be drawn without replacement from n={n}")
    if n == 1:
        return np.zeros_like(sigma2)
    return sigma2 / B * ((n - B) / (n - 1))
'''

SIMULATE_LOOP = '''
def simulate_grad_var(G, B, replace=True, n_draws=2000, rng=None):
    """Monte Carlo estimate of the per-coordinate variance of the mini-batch gradient."""
    G = np.asarray(G)
    rng = np.random.default_rng() if rng is None else rng
    n = G.shape[0]
    grads = []
    for _ in range(n_draws):
        if replace:
            idx = rng.integers(0, n, size=B)
        else:
            idx = rng.choice(n, B, replace=False)
        grads.append(G[idx].mean(axis=0))
    return np.var(np.array(grads), axis=0)
'''

SLOPE_POLYFIT = '''
def loglog_slope(Bs, vs):
    """Least-squares slope of log(vs) against log(Bs)."""
    Bs = np.asarray(Bs, dtype=float)
    vs = np.asarray(vs, dtype=float)
    if np.unique(Bs).size < 2:
        raise ValueError("Bs: need at least two distinct batch sizes")
    return float(np.polyfit(np.log(Bs), np.log(vs), 1)[0])
'''

QUIZ = """
std_ratio = 0.5  # sd scales as 1/sqrt(B): 1/sqrt(4)
accumulation_ratio = 1.0  # the mean of 4 x 8 independent draws is a batch of 32
answer_scaling = "C"
"""

NUMPY = {
    "minibatch_grad_var": EXACT_NUMPY,
    "simulate_grad_var": SIMULATE_LOOP,
    "loglog_slope": SLOPE_POLYFIT,
    "quiz": QUIZ,
}

MANUAL = {
    "minibatch_grad_var": '''
def minibatch_grad_var(G, B, replace=True):
    """Exact per-coordinate variance of the mean of B random rows of G."""
    G = np.asarray(G)
    n = len(G)
    if not replace and B > n:
        raise ValueError("without replacement B must not exceed the number of rows")
    one = G.dtype.type(1)
    mean = G.sum(axis=0) / G.dtype.type(n)
    dev = G - mean
    sigma2 = (dev * dev).sum(axis=0) / G.dtype.type(n)
    if replace:
        return sigma2 / G.dtype.type(B)
    # finite population correction; n = 1 (and B = n) has no noise at all
    fpc = G.dtype.type(0) if n == 1 else G.dtype.type(n - B) / G.dtype.type(n - 1)
    return sigma2 * fpc * (one / G.dtype.type(B))
''',
    "simulate_grad_var": '''
def simulate_grad_var(G, B, replace=True, n_draws=2000, rng=None):
    """Monte Carlo estimate of the per-coordinate variance of the mini-batch gradient."""
    G = np.asarray(G)
    if rng is None:
        rng = np.random.default_rng()
    n = G.shape[0]
    if replace:
        idx = rng.integers(0, n, size=(n_draws, B))  # all draws at once
    else:
        idx = np.stack([rng.choice(n, B, replace=False) for _ in range(n_draws)])
    g = G[idx].mean(axis=1)  # (n_draws, p)
    d = g - g.sum(axis=0) / g.dtype.type(n_draws)
    return (d * d).sum(axis=0) / g.dtype.type(n_draws)
''',
    "loglog_slope": '''
def loglog_slope(Bs, vs):
    """Least-squares slope of log(vs) against log(Bs)."""
    x = np.log(np.asarray(Bs, dtype=np.float64))
    y = np.log(np.asarray(vs, dtype=np.float64))
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if len(set(np.asarray(Bs).tolist())) < 2 or sxx == 0.0:
        raise ValueError("loglog_slope needs at least two distinct batch sizes")
    return float(xc @ (y - y.mean()) / sxx)
''',
    "quiz": """
std_ratio = float(1 / np.sqrt(4))
accumulation_ratio = float((1 / 32) / (1 / 32))
answer_scaling = "C"
""",
}

FLOAT64 = {
    "minibatch_grad_var": '''
def minibatch_grad_var(G, B, replace=True):
    """Exact per-coordinate variance of the mean of B random rows of G."""
    G = np.asarray(G)
    n = G.shape[0]
    if (not replace) and n < B:
        raise ValueError(f"minibatch_grad_var: B={B} > n={n} without replacement")
    g64 = G.astype(np.float64)
    sigma2 = ((g64 - g64.mean(axis=0)) ** 2).mean(axis=0)
    if replace:
        var = sigma2 / B
    elif n == 1:
        var = 0.0 * sigma2
    else:
        var = sigma2 * (n - B) / (B * (n - 1))
    return var.astype(G.dtype)
''',
    "simulate_grad_var": '''
def simulate_grad_var(G, B, replace=True, n_draws=2000, rng=None):
    """Monte Carlo estimate of the per-coordinate variance of the mini-batch gradient."""
    G = np.asarray(G)
    rng = rng if rng is not None else np.random.default_rng()
    n = len(G)
    draws = []
    for _ in range(n_draws):
        rows = rng.integers(n, size=B) if replace else rng.choice(n, B, replace=False)
        draws.append(G[rows].astype(np.float64).sum(axis=0) / B)
    draws = np.array(draws)
    centred = draws - draws.mean(axis=0)
    return ((centred**2).sum(axis=0) / n_draws).astype(G.dtype)
''',
    "loglog_slope": '''
def loglog_slope(Bs, vs):
    """Least-squares slope of log(vs) against log(Bs)."""
    Bs, vs = np.asarray(Bs, dtype=float), np.asarray(vs, dtype=float)
    if len(np.unique(Bs)) < 2:
        raise ValueError("Bs must hold at least two distinct batch sizes")
    # the slope does not depend on the base of the logarithm
    A = np.column_stack([np.log2(Bs), np.ones_like(Bs)])
    coef, *_ = np.linalg.lstsq(A, np.log2(vs), rcond=None)
    return float(coef[0])
''',
    "quiz": """
std_ratio = 1 / 2
accumulation_ratio = 1.0
answer_scaling = "C"
""",
}

VARIANTS = {
    "correct_numpy": {
        "kind": "correct",
        "about": "np.var, a loop of draws with rng.integers(0, n, size=B), np.polyfit",
        "cells": NUMPY,
    },
    "correct_manual_float32": {
        "kind": "correct",
        "about": "sums by hand in G's dtype, all draws with replacement in one rng.integers "
        "call of shape (n_draws, B), slope as centred cross-product over sum of squares",
        "cells": MANUAL,
    },
    "correct_float64_lstsq": {
        "kind": "correct",
        "about": "float64 accumulation cast back to G's dtype, rng.integers(n, size=B), "
        "np.linalg.lstsq on log2 values",
        "cells": FLOAT64,
    },
    "wrong_fpc_over_n": {
        "kind": "wrong",
        "about": "finite-population correction (n - B) / n instead of (n - B) / (n - 1)",
        "loses": ["test_minibatch_grad_var_random"],
        "cells": _with(
            NUMPY,
            minibatch_grad_var=_sub(EXACT_NUMPY, "((n - B) / (n - 1))", "((n - B) / n)").replace(
                """    if n == 1:
        return np.zeros_like(sigma2)
""",
                "",
            ),
        ),
    },
    "wrong_oversized_batch_allowed": {
        "kind": "wrong",
        "about": "minibatch_grad_var does not refuse B > n without replacement "
        "(returns a negative variance)",
        "loses": ["test_minibatch_grad_var_edge"],
        "cells": _with(
            NUMPY,
            minibatch_grad_var=_sub(
                EXACT_NUMPY,
                """    if B > n:
        raise ValueError(f"B={B} rows cannot be drawn without replacement from n={n}")
""",
                "",
            ),
        ),
    },
    "wrong_simulate_sums_rows": {
        "kind": "wrong",
        "about": "simulate_grad_var sums the B rows instead of averaging them (B^2 too large)",
        "loses": ["test_simulate_close_to_exact"],
        "cells": _with(
            NUMPY,
            simulate_grad_var=_sub(
                SIMULATE_LOOP,
                "grads.append(G[idx].mean(axis=0))",
                "grads.append(G[idx].sum(axis=0))",
            ),
        ),
    },
    "wrong_slope_from_endpoints": {
        "kind": "wrong",
        "about": "loglog_slope from the first and last point only, not least squares",
        "loses": ["test_loglog_slope_reference"],
        "cells": _with(
            NUMPY,
            loglog_slope=_sub(
                SLOPE_POLYFIT,
                "return float(np.polyfit(np.log(Bs), np.log(vs), 1)[0])",
                "return float(np.log(vs[-1] / vs[0]) / np.log(Bs[-1] / Bs[0]))",
            ),
        ),
    },
    "wrong_std_ratio_quarter": {
        "kind": "wrong",
        "about": "std_ratio = 0.25 (the factor of the variance, not of the standard deviation)",
        "loses": ["test_quiz_numbers"],
        "cells": _with(NUMPY, quiz=_sub(QUIZ, "std_ratio = 0.5", "std_ratio = 0.25")),
    },
    "wrong_scaling_sqrt_rule": {
        "kind": "wrong",
        "about": "answer_scaling = 'B' (scales the rate like the standard deviation, sqrt(k))",
        "loses": ["test_quiz_scaling"],
        "cells": _with(NUMPY, quiz=_sub(QUIZ, 'answer_scaling = "C"', 'answer_scaling = "B"')),
    },
    "wrong_sample_variance": {
        "kind": "wrong",
        "about": "minibatch_grad_var uses the sample variance of G (ddof=1) for sigma^2",
        "loses": ["test_minibatch_grad_var_sanity", "test_minibatch_grad_var_random"],
        "cells": _with(
            NUMPY,
            minibatch_grad_var=_sub(
                EXACT_NUMPY, "sigma2 = G.var(axis=0)", "sigma2 = G.var(axis=0, ddof=1)"
            ),
        ),
    },
    "wrong_simulate_ignores_rng": {
        "kind": "wrong",
        "about": "simulate_grad_var draws from a fresh np.random.default_rng() and ignores rng "
        "(not reproducible from the seed)",
        "loses": ["test_simulate_shape"],
        "cells": _with(
            NUMPY,
            simulate_grad_var=_sub(
                SIMULATE_LOOP,
                "rng = np.random.default_rng() if rng is None else rng",
                "rng = np.random.default_rng()",
            ),
        ),
    },
    "wrong_slope_mixed_log_bases": {
        "kind": "wrong",
        "about": "loglog_slope fits log10(v) against ln(B) (mixed bases: slope / ln 10)",
        "loses": ["test_loglog_slope_exact", "test_loglog_slope_reference"],
        "cells": _with(
            NUMPY,
            loglog_slope=_sub(SLOPE_POLYFIT, "np.log(vs), 1)", "np.log10(vs), 1)"),
        ),
    },
}
