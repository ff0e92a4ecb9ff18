"""Problem set 6 (BN across processes): answer cells of the corpus variants.

Written from the student notebook's task texts only (see corpus/README.md).
"""

from edits import sub as _sub
from edits import with_cells as _with

LOCAL = '''
def local_moments(x_k):
    """Count, mean and centred sum of squares per column of one slice."""
    x_k = np.asarray(x_k)
    n_k = int(x_k.shape[0])
    if n_k == 0:
        zeros = np.zeros(x_k.shape[1:], dtype=x_k.dtype)
        return 0, zeros, zeros.copy()
    mean_k = x_k.mean(axis=0)
    m2_k = ((x_k - mean_k) ** 2).sum(axis=0)
    return n_k, mean_k, m2_k
'''

MERGE_VECTOR = '''
def merge_moments(counts, means, m2s):
    """Count, mean and centred sum of squares of the union of the slices."""
    means = np.asarray(means)
    m2s = np.asarray(m2s)
    c = np.asarray(counts).astype(means.dtype)[:, None]
    n = int(np.sum(counts))
    mean = (c * means).sum(axis=0) / c.sum()
    m2 = m2s.sum(axis=0) + (c * (means - mean) ** 2).sum(axis=0)
    return n, mean, m2
'''

SYNC_VECTOR = '''
def sync_backward(dy, x, gamma, sizes, eps=1e-5):
    """Input gradient and per-process parameter-gradient shares of synchronized BN."""
    x = np.asarray(x)
    dy = np.asarray(dy, dtype=x.dtype)
    gamma = np.asarray(gamma, dtype=x.dtype)
    cuts = np.cumsum(sizes)[:-1]
    xs, dys = np.split(x, cuts), np.split(dy, cuts)
    # 1. messages, merged by every process; each normalizes its own slice
    messages = [local_moments(x_k) for x_k in xs]
    counts, means, m2s = (np.array(v) for v in zip(*messages, strict=True))
    m, mu, m2 = merge_moments(counts, means.astype(x.dtype), m2s.astype(x.dtype))
    inv_std = 1 / np.sqrt(m2 / m + eps)
    xhats = [(x_k - mu) * inv_std for x_k in xs]
    # 2. local sums: the shares of dbeta and dgamma
    dbeta_shares = np.array([dy_k.sum(axis=0) for dy_k in dys], dtype=x.dtype)
    dgamma_shares = np.array(
        [(dy_k * xh_k).sum(axis=0) for dy_k, xh_k in zip(dys, xhats, strict=True)], dtype=x.dtype
    )
    # 3. all-reduce
    sum_dy = dbeta_shares.sum(axis=0)
    sum_dy_xhat = dgamma_shares.sum(axis=0)
    # 4. every process its own rows
    dxs = [
        gamma * inv_std / m * (m * dy_k - sum_dy - xh_k * sum_dy_xhat)
        for dy_k, xh_k in zip(dys, xhats, strict=True)
    ]
    return np.concatenate(dxs).astype(x.dtype), dgamma_shares, dbeta_shares
'''

QUIZ = """
n_allreduce = 128  # sum dy and sum dy * xhat, one each per channel
dbeta_seen = 13.0  # 4 processes x the total 3.25
"""

VECTOR = {
    "local_moments": LOCAL,
    "merge_moments": MERGE_VECTOR,
    "sync_backward": SYNC_VECTOR,
    "quiz": QUIZ,
}

LOCAL_LOOP = '''
def local_moments(x_k):
    """Count, mean and centred sum of squares per column of one slice."""
    x_k = np.asarray(x_k)
    t = x_k.dtype.type
    n_k = len(x_k)
    total = np.zeros(x_k.shape[1:], dtype=x_k.dtype)
    for row in x_k:  # first pass
        total = total + row
    mean_k = total / t(n_k) if n_k else total
    m2_k = np.zeros(x_k.shape[1:], dtype=x_k.dtype)
    for row in x_k:  # second pass
        m2_k = m2_k + (row - mean_k) * (row - mean_k)
    return n_k, mean_k, m2_k
'''

MERGE_LOOP = '''
def _merge_pair(a, b):
    """Chan, Golub and LeVeque: two (count, mean, m2) states into one."""
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    if n_b == 0:
        return a
    if n_a == 0:
        return b
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta * delta * (n_a * n_b / n)


def merge_moments(counts, means, m2s):
    """Count, mean and centred sum of squares of the union of the slices."""
    means, m2s = np.asarray(means), np.asarray(m2s)
    state = (0, np.zeros_like(means[0]), np.zeros_like(m2s[0]))
    for k in range(len(counts)):  # one process at a time
        state = _merge_pair(state, (int(counts[k]), means[k], m2s[k]))
    n, mean, m2 = state
    return int(n), np.asarray(mean, dtype=means.dtype), np.asarray(m2, dtype=means.dtype)
'''

SYNC_STAGED = '''
def sync_backward(dy, x, gamma, sizes, eps=1e-5):
    """Input gradient and per-process parameter-gradient shares of synchronized BN."""
    x = np.asarray(x)
    t = x.dtype.type
    dy = np.asarray(dy).astype(x.dtype)
    gamma = np.asarray(gamma).astype(x.dtype)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    slices = [slice(bounds[k], bounds[k + 1]) for k in range(len(sizes))]
    # step 1: every process merges all messages itself, one message at a time
    state = (0, np.zeros(x.shape[1], x.dtype), np.zeros(x.shape[1], x.dtype))
    for s in slices:
        state = _merge_pair(state, local_moments(x[s]))
    m, mu, m2 = state
    std = np.sqrt(m2 / t(m) + t(eps))
    xhat = (x - mu) / std  # each process normalizes only its own rows (row-wise op)
    # step 2: local sums
    dbeta_shares = np.stack([dy[s].sum(axis=0) for s in slices])
    dgamma_shares = np.stack([(dy[s] * xhat[s]).sum(axis=0) for s in slices])
    # step 3: all-reduce
    s1 = dbeta_shares.sum(axis=0)
    s2 = dgamma_shares.sum(axis=0)
    # step 4, node by node: d/dmu and d/dvar from the two totals
    dvar = -gamma * s2 / (t(2) * std * std)  # sum_j gamma dy_j (x_j - mu) * (-1/2) std^-3
    dmu = -gamma * s1 / std  # the direct path; the path through var vanishes
    dx = np.empty_like(x)
    for s in slices:
        dx[s] = gamma * dy[s] / std + dvar * t(2) * (x[s] - mu) / t(m) + dmu / t(m)
    return dx, dgamma_shares.astype(x.dtype), dbeta_shares.astype(x.dtype)
'''

LOOP = {
    "local_moments": LOCAL_LOOP,
    "merge_moments": MERGE_LOOP,
    "sync_backward": SYNC_STAGED,
    "quiz": """
channels = 64
n_allreduce = 2 * channels
shares = [1.5, -0.5, 2.0, 0.25]
dbeta_seen = float(len(shares) * sum(shares))
""",
}

FLOAT64 = {
    "local_moments": '''
def local_moments(x_k):
    """Count, mean and centred sum of squares per column of one slice."""
    x_k = np.asarray(x_k)
    n_k = x_k.shape[0]
    x64 = x_k.astype(np.float64)
    mean = x64.sum(axis=0) / max(n_k, 1)
    m2 = ((x64 - mean) ** 2).sum(axis=0)
    return int(n_k), mean.astype(x_k.dtype), m2.astype(x_k.dtype)
''',
    "merge_moments": '''
def merge_moments(counts, means, m2s):
    """Count, mean and centred sum of squares of the union of the slices."""
    means = np.asarray(means)
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    w = (counts / n)[:, None]  # the weight of each process, in float64
    mean = (w * means.astype(np.float64)).sum(axis=0)
    between = (counts[:, None] * (means.astype(np.float64) - mean) ** 2).sum(axis=0)
    m2 = np.asarray(m2s, dtype=np.float64).sum(axis=0) + between
    return n, mean.astype(means.dtype), m2.astype(means.dtype)
''',
    "sync_backward": '''
def sync_backward(dy, x, gamma, sizes, eps=1e-5):
    """Input gradient and per-process parameter-gradient shares of synchronized BN."""
    x = np.asarray(x)
    P = len(sizes)
    xs = np.split(x.astype(np.float64), np.cumsum(sizes)[:-1])
    dys = np.split(np.asarray(dy, dtype=np.float64), np.cumsum(sizes)[:-1])
    g = np.asarray(gamma, dtype=np.float64)
    msgs = [local_moments(x_k) for x_k in xs]
    m, mu, m2 = merge_moments(
        np.array([c for c, _, _ in msgs]), np.stack([a for _, a, _ in msgs]),
        np.stack([b for _, _, b in msgs]),
    )
    sigma = np.sqrt(m2 / m + eps)
    dgamma_shares = np.zeros((P, x.shape[1]))
    dbeta_shares = np.zeros((P, x.shape[1]))
    for k in range(P):
        xhat_k = (xs[k] - mu) / sigma
        dbeta_shares[k] = dys[k].sum(axis=0)
        dgamma_shares[k] = (dys[k] * xhat_k).sum(axis=0)
    total_dbeta, total_dgamma = dbeta_shares.sum(axis=0), dgamma_shares.sum(axis=0)
    dx = [
        g / (m * sigma) * (m * dys[k] - total_dbeta - (xs[k] - mu) / sigma * total_dgamma)
        for k in range(P)
    ]
    return (np.concatenate(dx).astype(x.dtype), dgamma_shares.astype(x.dtype),
            dbeta_shares.astype(x.dtype))
''',
    "quiz": """
n_allreduce = 2 * 64.0
dbeta_seen = 4 * (1.5 - 0.5 + 2 + 0.25)
""",
}

VARIANTS = {
    "correct_vectorized": {
        "kind": "correct",
        "about": "np.mean two-pass messages, all processes merged at once (count-weighted "
        "means), the compact dx per slice, everything in x's dtype",
        "cells": VECTOR,
    },
    "correct_looped_staged_float32": {
        "kind": "correct",
        "about": "looped two-pass messages in x's dtype, Chan's merge one process at a time "
        "(skipping empty ones), the staged dx through d/dmu and d/dvar",
        "cells": LOOP,
    },
    "correct_float64": {
        "kind": "correct",
        "about": "float64 internals cast back to x's dtype, merge through weights n_k / n, "
        "per-process loop for the shares",
        "cells": FLOAT64,
    },
    "wrong_empty_slice_nan": {
        "kind": "wrong",
        "about": "local_moments of an empty slice returns NaN (np.mean of nothing) instead of "
        "zeros; the looped merge skips empty processes, so only Part A suffers",
        "loses": ["test_local_moments_reference"],
        "cells": _with(
            LOOP,
            local_moments=_sub(
                LOCAL_LOOP,
                "mean_k = total / t(n_k) if n_k else total",
                "mean_k = total / t(n_k) if n_k else total * np.nan",
            ),
        ),
    },
    "wrong_merge_sums_of_squares": {
        "kind": "wrong",
        "about": "merge_moments through sums of squares (sum m2_k + n_k mean_k^2 - n mean^2), "
        "which cancels in float32 at offset 1e3; sync_backward merges with its own loop",
        "loses": ["test_merge_moments_reference"],
        "cells": _with(
            LOOP,
            merge_moments=MERGE_LOOP.split("def merge_moments")[0]
            + '''def merge_moments(counts, means, m2s):
    """Count, mean and centred sum of squares of the union of the slices."""
    means, m2s = np.asarray(means), np.asarray(m2s)
    c = np.asarray(counts).astype(means.dtype)[:, None]
    n = int(np.sum(counts))
    mean = (c * means).sum(axis=0) / means.dtype.type(n)
    sum_sq = (m2s + c * means * means).sum(axis=0)
    return n, mean, sum_sq - means.dtype.type(n) * mean * mean
''',
        ),
    },
    "wrong_sync_local_statistics": {
        "kind": "wrong",
        "about": "sync_backward normalizes and back-propagates each slice with its own "
        "statistics (unsynchronized BN)",
        "loses": [
            "test_sync_backward_shapes",
            "test_sync_backward_dx",
            "test_sync_backward_shares",
        ],
        "cells": _with(
            VECTOR,
            sync_backward='''
def sync_backward(dy, x, gamma, sizes, eps=1e-5):
    """Input gradient and per-process parameter-gradient shares of synchronized BN."""
    x = np.asarray(x)
    dy = np.asarray(dy, dtype=x.dtype)
    gamma = np.asarray(gamma, dtype=x.dtype)
    cuts = np.cumsum(sizes)[:-1]
    dxs, dgs, dbs = [], [], []
    for x_k, dy_k in zip(np.split(x, cuts), np.split(dy, cuts), strict=True):
        n_k, mu_k, m2_k = local_moments(x_k)
        inv = 1 / np.sqrt(m2_k / max(n_k, 1) + eps)
        xh = (x_k - mu_k) * inv
        s1, s2 = dy_k.sum(axis=0), (dy_k * xh).sum(axis=0)
        dxs.append(gamma * inv / max(n_k, 1) * (n_k * dy_k - s1 - xh * s2))
        dgs.append(s2)
        dbs.append(s1)
    return np.concatenate(dxs), np.array(dgs, dtype=x.dtype), np.array(dbs, dtype=x.dtype)
''',
        ),
    },
    "wrong_sync_forgets_gamma": {
        "kind": "wrong",
        "about": "sync_backward's dx leaves out gamma (right only when gamma = 1)",
        "loses": ["test_sync_backward_dx"],
        "cells": _with(
            VECTOR,
            sync_backward=_sub(
                SYNC_VECTOR,
                "gamma * inv_std / m * (m * dy_k - sum_dy - xh_k * sum_dy_xhat)",
                "inv_std / m * (m * dy_k - sum_dy - xh_k * sum_dy_xhat)",
            ),
        ),
    },
    "wrong_sync_dgamma_totals": {
        "kind": "wrong",
        "about": "sync_backward returns the all-reduced dgamma total as every process's share",
        "loses": ["test_sync_backward_shares"],
        "cells": _with(
            VECTOR,
            sync_backward=_sub(
                SYNC_VECTOR,
                "return np.concatenate(dxs).astype(x.dtype), dgamma_shares, dbeta_shares",
                "totals = np.broadcast_to(sum_dy_xhat, dgamma_shares.shape).copy()\n"
                "    return np.concatenate(dxs).astype(x.dtype), totals, dbeta_shares",
            ),
        ),
    },
    "wrong_quiz_allreduce_count": {
        "kind": "wrong",
        "about": "n_allreduce = 64 (one sum per channel)",
        "loses": ["test_quiz_two_sums"],
        "cells": _with(VECTOR, quiz=_sub(QUIZ, "n_allreduce = 128", "n_allreduce = 64")),
    },
    "wrong_quiz_dbeta_seen": {
        "kind": "wrong",
        "about": "dbeta_seen = 3.25 (the total, not four times the total)",
        "loses": ["test_quiz_shares"],
        "cells": _with(VECTOR, quiz=_sub(QUIZ, "dbeta_seen = 13.0", "dbeta_seen = 3.25")),
    },
    "wrong_local_moments_float64": {
        "kind": "wrong",
        "about": "local_moments computes in float64 and returns float64 for a float32 slice "
        "(sync_backward casts its results back, so Part C is unaffected)",
        "loses": ["test_local_moments_small", "test_local_moments_reference"],
        "cells": _with(
            VECTOR,
            local_moments=_sub(
                LOCAL,
                "    x_k = np.asarray(x_k)\n",
                "    x_k = np.asarray(x_k, dtype=np.float64)\n",
            ),
        ),
    },
    "wrong_merge_through_variances": {
        "kind": "wrong",
        "about": "merge_moments goes through the variances m2_k / n_k, which are NaN for an "
        "empty process (0 * NaN poisons the sums); right when every count is positive",
        "loses": ["test_merge_moments_small", "test_merge_moments_empty"],
        "cells": _with(
            LOOP,
            merge_moments=MERGE_LOOP.split("def merge_moments")[0]
            + '''def merge_moments(counts, means, m2s):
    """Count, mean and centred sum of squares of the union of the slices."""
    means, m2s = np.asarray(means), np.asarray(m2s)
    c = np.asarray(counts).astype(means.dtype)[:, None]
    n = int(np.sum(counts))
    with np.errstate(invalid="ignore", divide="ignore"):
        var_k = m2s / c
    mean = (c * means).sum(axis=0) / means.dtype.type(n)
    return n, mean, (c * (var_k + (means - mean) ** 2)).sum(axis=0)
''',
        ),
    },
}
