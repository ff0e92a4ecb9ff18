"""Problem set 3 (BN forward): answer cells of the corpus variants.

Written from the student notebook's task texts only (see corpus/README.md).
"""

from edits import sub as _sub
from edits import with_cells as _with

NORMALIZE_NUMPY = '''
def normalize(x, eps=1e-5):
    """(x - batch mean) / sqrt(batch variance + eps), per column of x (N, D)."""
    x = np.asarray(x)
    if x.shape[0] < 2:
        raise ValueError(f"normalize needs N >= 2 rows in training mode, got {x.shape[0]}")
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    return (x - mu) / np.sqrt(var + eps)


we1 = normalize(np.array([[2.0], [4.0], [6.0], [8.0]]), 0.0)
'''

FORWARD_NUMPY = '''
def bn_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch normalization of x (N, D) or (N, C, *spatial)."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must be (N, D) or (N, C, *spatial), got shape {x.shape}")
    C = x.shape[1]
    gamma, beta = np.asarray(gamma), np.asarray(beta)
    if gamma.shape != (C,) or beta.shape != (C,):
        raise ValueError(f"gamma and beta must have shape ({C},), got {gamma.shape}, {beta.shape}")
    m = x.size // C
    if m < 2:
        raise ValueError(f"need at least 2 values per feature/channel, got m={m}")
    axes = (0,) + tuple(range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    shape = (1, C) + (1,) * (x.ndim - 2)
    g = gamma.astype(x.dtype).reshape(shape)
    b = beta.astype(x.dtype).reshape(shape)
    return g * (x - mu) / np.sqrt(var + eps) + b
'''

UNDO_NUMPY = '''
x1 = np.array([[2.0], [4.0], [6.0], [8.0]])
y2 = bn_forward(x1, np.array([2.0]), np.array([1.0]), 0.0)
we2_mean = float(y2.mean())
we2_var = float(y2.var())


def undo_params(x, eps=1e-5):
    """gamma, beta that make bn_forward(x, gamma, beta, eps) == x."""
    x = np.asarray(x)
    return np.sqrt(x.var(axis=0) + eps), x.mean(axis=0)
'''

MEAN_SQUARE_NUMPY = '''
def mean_square_xhat(var, eps):
    """(1/m) sum_i xhat_i**2 as a function of the batch variance and eps."""
    return var / (var + eps)
'''

QUIZ = """
n_learnable = 96  # gamma and beta, one each per channel
out_mean = 2.0
out_var = 9.0
"""

NUMPY = {
    "normalize": NORMALIZE_NUMPY,
    "bn_forward": FORWARD_NUMPY,
    "undo": UNDO_NUMPY,
    "mean_square": MEAN_SQUARE_NUMPY,
    "quiz": QUIZ,
}

CHANNEL_ROWS = {
    "normalize": '''
def normalize(x, eps=1e-5):
    """(x - batch mean) / sqrt(batch variance + eps), per column of x (N, D)."""
    x = np.asarray(x)
    n = len(x)
    if n < 2:
        raise ValueError("normalize: a feature needs at least two values (N >= 2)")
    t = x.dtype.type
    mu = x.sum(axis=0) / t(n)
    d = x - mu
    var = (d * d).sum(axis=0) / t(n)
    inv_std = t(1) / np.sqrt(var + t(eps))  # multiply by the reciprocal
    return d * inv_std


we1 = normalize(np.array([2.0, 4.0, 6.0, 8.0]).reshape(4, 1), eps=0)
''',
    "bn_forward": '''
def bn_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch normalization of x (N, D) or (N, C, *spatial)."""
    x = np.asarray(x)
    C = x.shape[1]
    if np.shape(gamma) != (C,) or np.shape(beta) != (C,):
        raise ValueError("gamma, beta: expected shape (C,) with C = x.shape[1]")
    rows = np.moveaxis(x, 1, 0).reshape(C, -1)  # one row per channel: (C, m)
    m = rows.shape[1]
    if m < 2:
        raise ValueError("bn_forward: fewer than 2 values per channel")
    t = x.dtype.type
    mu = rows.sum(axis=1, keepdims=True) / t(m)
    var = ((rows - mu) ** 2).sum(axis=1, keepdims=True) / t(m)
    scale = np.asarray(gamma, dtype=x.dtype)[:, None] / np.sqrt(var + t(eps))
    shift = np.asarray(beta, dtype=x.dtype)[:, None] - mu * scale
    out = rows * scale + shift  # the folded form y = scale * x + shift
    moved = np.moveaxis(x, 1, 0).shape
    return np.moveaxis(out.reshape(moved), 0, 1)
''',
    "undo": '''
x1 = np.array([[2.0], [4.0], [6.0], [8.0]])
y2 = bn_forward(x1, np.full(1, 2.0), np.full(1, 1.0), eps=0.0)
we2_mean = float(y2.sum() / y2.size)
we2_var = float(((y2 - we2_mean) ** 2).sum() / y2.size)


def undo_params(x, eps=1e-5):
    """gamma, beta that make bn_forward(x, gamma, beta, eps) == x."""
    x = np.asarray(x)
    t = x.dtype.type
    mean = x.sum(axis=0) / t(len(x))
    var = ((x - mean) ** 2).sum(axis=0) / t(len(x))
    return np.sqrt(var + t(eps)), mean
''',
    "mean_square": '''
def mean_square_xhat(var, eps):
    """(1/m) sum_i xhat_i**2 as a function of the batch variance and eps."""
    # sum (x - mu)^2 / (m (var + eps)) = var / (var + eps) = 1 - eps / (var + eps)
    return 1 - eps / (np.asarray(var) + eps)
''',
    "quiz": """
channels = 48
n_learnable = 2 * channels
gamma_, beta_ = -3.0, 2.0
out_mean, out_var = beta_, gamma_**2
""",
}

FLOAT64_LOOP = {
    "normalize": '''
def normalize(x, eps=1e-5):
    """(x - batch mean) / sqrt(batch variance + eps), per column of x (N, D)."""
    x = np.asarray(x)
    if x.shape[0] <= 1:
        raise ValueError("x must have N >= 2 rows")
    x64 = x.astype(np.float64)
    out = np.empty_like(x64)
    for j in range(x.shape[1]):  # one feature at a time, in float64
        col = x64[:, j]
        out[:, j] = (col - col.mean()) / np.sqrt(col.var() + eps)
    return out.astype(x.dtype)


we1 = normalize(np.array([[2.0], [4.0], [6.0], [8.0]]), eps=0.0)
''',
    "bn_forward": '''
def bn_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch normalization of x (N, D) or (N, C, *spatial)."""
    x = np.asarray(x)
    gamma = np.asarray(gamma)
    beta = np.asarray(beta)
    C = x.shape[1]
    if gamma.shape != (C,):
        raise ValueError(f"gamma: expected shape ({C},), got {gamma.shape}")
    if beta.shape != (C,):
        raise ValueError(f"beta: expected shape ({C},), got {beta.shape}")
    if x.size // C < 2:
        raise ValueError("bn_forward: m = N * prod(spatial) must be at least 2")
    y = np.empty(x.shape, dtype=np.float64)
    for c in range(C):  # loop over channels, float64 inside
        xc = x[:, c, ...].astype(np.float64)
        mu = xc.mean()
        var = ((xc - mu) ** 2).mean()
        y[:, c, ...] = float(gamma[c]) * (xc - mu) / np.sqrt(var + eps) + float(beta[c])
    return y.astype(x.dtype)
''',
    "undo": '''
x1 = np.array([[2.0], [4.0], [6.0], [8.0]])
we2 = bn_forward(x1, np.array([2.0]), np.array([1.0]), eps=0.0)
we2_mean, we2_var = float(np.mean(we2)), float(np.var(we2))


def undo_params(x, eps=1e-5):
    """gamma, beta that make bn_forward(x, gamma, beta, eps) == x."""
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    gamma = np.sqrt(np.var(x64, axis=0) + eps)
    beta = np.mean(x64, axis=0)
    return gamma.astype(x.dtype), beta.astype(x.dtype)
''',
    "mean_square": '''
def mean_square_xhat(var, eps):
    """(1/m) sum_i xhat_i**2 as a function of the batch variance and eps."""
    var = np.asarray(var)
    return var * (1.0 / (var + eps))
''',
    "quiz": """
n_learnable = 96.0
out_mean, out_var = 2, 9
""",
}

VARIANTS = {
    "correct_numpy": {
        "kind": "correct",
        "about": "np.mean/np.var over the batch axes with keepdims, divide by sqrt(var + eps)",
        "cells": NUMPY,
    },
    "correct_channel_rows_float32": {
        "kind": "correct",
        "about": "sums by hand in x's dtype, channels moved to rows (C, m), folded "
        "scale/shift form, multiply by the reciprocal of the standard deviation",
        "cells": CHANNEL_ROWS,
    },
    "correct_float64_loop": {
        "kind": "correct",
        "about": "loop over features/channels computed in float64 and cast back to x's dtype",
        "cells": FLOAT64_LOOP,
    },
    "wrong_normalize_unbiased_var": {
        "kind": "wrong",
        "about": "normalize divides by the unbiased standard deviation (ddof=1); the visible "
        "mean-square test compares with the learner's normalize, so it fails too",
        "loses": ["test_normalize_reference", "test_normalize_sanity", "test_mean_square_eps0"],
        "cells": _with(
            NUMPY,
            normalize=_sub(NORMALIZE_NUMPY, "var = x.var(axis=0)", "var = x.var(axis=0, ddof=1)"),
        ),
    },
    "wrong_normalize_batch_of_one": {
        "kind": "wrong",
        "about": "normalize accepts N = 1 (returns zeros instead of raising)",
        "loses": ["test_normalize_reference"],
        "cells": _with(
            NUMPY,
            normalize=_sub(
                NORMALIZE_NUMPY,
                """    if x.shape[0] < 2:
        raise ValueError(f"normalize needs N >= 2 rows in training mode, got {x.shape[0]}")
""",
                "",
            ),
        ),
    },
    "wrong_forward_eps_outside_sqrt": {
        "kind": "wrong",
        "about": "bn_forward divides by sqrt(var) + eps instead of sqrt(var + eps); "
        "undo_params (right) then no longer undoes it in the visible undo test, which runs "
        "bn_forward (the hidden one checks undo_params alone)",
        "loses": ["test_bn_forward_reference", "test_undo_visible"],
        "cells": _with(
            NUMPY,
            bn_forward=_sub(
                FORWARD_NUMPY, "/ np.sqrt(var + eps) + b", "/ (np.sqrt(var) + eps) + b"
            ),
        ),
    },
    "wrong_forward_conv_axis0": {
        "kind": "wrong",
        "about": "bn_forward takes conv statistics over axis 0 only (per channel and pixel)",
        "loses": ["test_bn_forward_reference", "test_bn_forward_shapes"],
        "cells": _with(
            NUMPY,
            bn_forward=_sub(FORWARD_NUMPY, "axes = (0,) + tuple(range(2, x.ndim))", "axes = (0,)"),
        ),
    },
    "wrong_forward_single_value": {
        "kind": "wrong",
        "about": "bn_forward accepts a single value per channel (m = 1 gives beta, no error)",
        "loses": ["test_bn_forward_edge"],
        "cells": _with(
            NUMPY,
            bn_forward=_sub(
                FORWARD_NUMPY,
                """    if m < 2:
        raise ValueError(f"need at least 2 values per feature/channel, got m={m}")
""",
                "    assert m >= 0  # (the check m >= 2 is missing)\n",
            ),
        ),
    },
    "wrong_we2_var_is_gamma": {
        "kind": "wrong",
        "about": "we2_var = 2.0 (the output variance taken as gamma, not gamma**2)",
        "loses": ["test_undo_reference"],
        "cells": _with(NUMPY, undo=_sub(UNDO_NUMPY, "we2_var = float(y2.var())", "we2_var = 2.0")),
    },
    "wrong_undo_without_eps": {
        "kind": "wrong",
        "about": "undo_params returns gamma = sqrt(var) (forgets the eps that bn_forward adds)",
        "loses": ["test_undo_reference", "test_undo_visible"],
        "cells": _with(
            NUMPY,
            undo=_sub(UNDO_NUMPY, "np.sqrt(x.var(axis=0) + eps)", "np.sqrt(x.var(axis=0))"),
        ),
    },
    "wrong_undo_unbiased_std": {
        "kind": "wrong",
        "about": "undo_params uses the unbiased standard deviation (ddof=1) for gamma",
        "loses": ["test_undo_visible", "test_undo_reference"],
        "cells": _with(
            NUMPY,
            undo=_sub(
                UNDO_NUMPY, "np.sqrt(x.var(axis=0) + eps)", "np.sqrt(x.var(axis=0, ddof=1) + eps)"
            ),
        ),
    },
    "wrong_mean_square_sqrt": {
        "kind": "wrong",
        "about": "mean_square_xhat = sqrt(var / (var + eps)) (the mean |xhat| scale, not squares)",
        "loses": ["test_mean_square_random", "test_mean_square_eps0"],
        "cells": _with(
            NUMPY,
            mean_square=_sub(
                MEAN_SQUARE_NUMPY, "return var / (var + eps)", "return np.sqrt(var / (var + eps))"
            ),
        ),
    },
    "wrong_quiz_output_variance_abs_gamma": {
        "kind": "wrong",
        "about": "out_var = 3.0 (the output variance taken as |gamma|, not gamma**2)",
        "loses": ["test_quiz_output"],
        "cells": _with(NUMPY, quiz=_sub(QUIZ, "out_var = 9.0", "out_var = 3.0")),
    },
    "wrong_quiz_learnable_counts_running_stats": {
        "kind": "wrong",
        "about": "n_learnable = 192 (counts the running mean and variance as learnable)",
        "loses": ["test_quiz_learnable"],
        "cells": _with(NUMPY, quiz=_sub(QUIZ, "n_learnable = 96", "n_learnable = 192")),
    },
    "wrong_normalize_casts_to_float64": {
        "kind": "wrong",
        "about": "normalize starts with np.asarray(x, dtype=float): float32 in, float64 out",
        "loses": ["test_normalize_sanity", "test_normalize_reference"],
        "cells": _with(
            NUMPY,
            normalize=_sub(
                NORMALIZE_NUMPY, "    x = np.asarray(x)\n", "    x = np.asarray(x, dtype=float)\n"
            ),
        ),
    },
    "wrong_forward_casts_to_float64": {
        "kind": "wrong",
        "about": "bn_forward starts with np.asarray(x, dtype=float): float32 in, float64 out",
        "loses": ["test_bn_forward_shapes", "test_bn_forward_reference"],
        "cells": _with(
            NUMPY,
            bn_forward=_sub(
                FORWARD_NUMPY, "    x = np.asarray(x)\n", "    x = np.asarray(x, dtype=float)\n"
            ),
        ),
    },
    "wrong_mean_square_inverse": {
        "kind": "wrong",
        "about": "mean_square_xhat = 1 / (var + eps) (forgets that the mean of d^2 is var)",
        "loses": ["test_mean_square_eps0", "test_mean_square_random"],
        "cells": _with(
            NUMPY,
            mean_square=_sub(
                MEAN_SQUARE_NUMPY, "return var / (var + eps)", "return 1 / (var + eps)"
            ),
        ),
    },
}
