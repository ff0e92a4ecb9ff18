"""Problem set 1 (moments): answer cells of the corpus variants.

Written from the student notebook's task texts only (see corpus/README.md).
"""

from edits import with_cells as _with

# ---------------------------------------------------------------- correct 1: plain NumPy
EXPECTATION_NUMPY = '''
def expectation(values, probs):
    """Expectation sum_k values[k] * probs[k] of a discrete distribution."""
    values = np.asarray(values, dtype=float)
    probs = np.asarray(probs, dtype=float)
    if np.any(probs < 0):
        raise ValueError("probs: every probability must be >= 0")
    if abs(probs.sum() - 1.0) > 1e-8:
        raise ValueError(f"probs: must sum to 1, got {probs.sum()!r}")
    return float(np.dot(values, probs))


faces = np.arange(1.0, 7.0)
fair = np.full(6, 1 / 6)
e_x2_die = expectation(faces**2, fair)
'''

TWO_PASS_NUMPY = '''
def two_pass_var(x, ddof=0):
    """Variance of x along axis 0 by the two-pass algorithm, in x's dtype."""
    x = np.asarray(x)
    n = x.shape[0]
    if ddof >= n:
        raise ValueError(f"ddof={ddof} must be smaller than the number of rows n={n}")
    mu = x.mean(axis=0)
    return ((x - mu) ** 2).sum(axis=0) / (n - ddof)
'''

TEXTBOOK_NUMPY = '''
def textbook_var(x):
    """Variance along axis 0 as mean(x**2) - mean(x)**2, in x's dtype."""
    x = np.asarray(x)
    return (x * x).mean(axis=0) - x.mean(axis=0) ** 2


shifted = (np.float32(1e4) + np.array([1, 2, 3, 4], dtype=np.float32))
print(two_pass_var(shifted), textbook_var(shifted))
answer_cancellation = "D"  # spread as large as the mean
'''

WELFORD_NUMPY = '''
def welford(x):
    """(count, mean, m2) of the rows of x, updated one row at a time."""
    x = np.asarray(x)
    mean = np.zeros(x.shape[1:], dtype=x.dtype)
    m2 = np.zeros(x.shape[1:], dtype=x.dtype)
    count = 0
    for row in x:
        count += 1
        delta = row - mean
        mean = mean + delta / count
        m2 = m2 + delta * (row - mean)
    return count, mean, m2


def merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """(count, mean, m2) of two streams combined."""
    n = n_a + n_b
    if n == 0:
        return 0, np.zeros_like(mean_a), np.zeros_like(m2_a)
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + delta * delta * (n_a * n_b / n)
    return n, mean, m2
'''

SKEW_NUMPY = '''
def skew_kurt(x):
    """Population skewness and excess kurtosis along axis 0, in x's dtype."""
    x = np.asarray(x)
    d = x - x.mean(axis=0)
    m2 = (d**2).mean(axis=0)
    m3 = (d**3).mean(axis=0)
    m4 = (d**4).mean(axis=0)
    return m3 / m2**1.5, m4 / m2**2 - 3


cov_x_x2 = 0.0
'''

NUMPY = {
    "expectation": EXPECTATION_NUMPY,
    "two_pass_var": TWO_PASS_NUMPY,
    "textbook_var": TEXTBOOK_NUMPY,
    "welford": WELFORD_NUMPY,
    "skew_kurt": SKEW_NUMPY,
}

# ------------------------------------------- correct 2: explicit loops, float32 kept float32
LOOPS = {
    "expectation": '''
import math


def expectation(values, probs):
    """Expectation sum_k values[k] * probs[k] of a discrete distribution."""
    if len(values) != len(probs):
        raise ValueError("values and probs must have the same length")
    for p in probs:
        if p < 0:
            raise ValueError(f"probs: negative probability {p}")
    if abs(math.fsum(float(p) for p in probs) - 1.0) > 1e-8:
        raise ValueError("probs: the probabilities do not sum to 1")
    return math.fsum(float(v) * float(p) for v, p in zip(values, probs, strict=True))


faces = np.arange(1.0, 7.0)
fair = np.full(6, 1 / 6)
e_x2_die = expectation(faces * faces, fair)
''',
    "two_pass_var": '''
def two_pass_var(x, ddof=0):
    """Variance of x along axis 0 by the two-pass algorithm, in x's dtype."""
    x = np.asarray(x)
    n = len(x)
    if n - ddof <= 0:
        raise ValueError(f"ddof must be < n (got ddof={ddof}, n={n})")
    total = np.zeros(x.shape[1:], dtype=x.dtype)
    for row in x:  # first pass: the mean, summed row by row in x's dtype
        total = total + row
    mean = total / x.dtype.type(n)
    acc = np.zeros(x.shape[1:], dtype=x.dtype)
    for row in x:  # second pass: squared deviations
        acc = acc + (row - mean) * (row - mean)
    return acc / x.dtype.type(n - ddof)
''',
    "textbook_var": '''
def textbook_var(x):
    """Variance along axis 0 as mean(x**2) - mean(x)**2, in x's dtype."""
    x = np.asarray(x)
    s1 = np.zeros(x.shape[1:], dtype=x.dtype)
    s2 = np.zeros(x.shape[1:], dtype=x.dtype)
    for row in x:  # one pass: the sum and the sum of squares together
        s1 = s1 + row
        s2 = s2 + row * row
    n = x.dtype.type(len(x))
    return s2 / n - (s1 / n) * (s1 / n)


shifted = (np.float32(1e4) + np.array([1, 2, 3, 4], dtype=np.float32))
candidates = {
    "A": shifted,
    "B": np.float32(1e3) + np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32),
    "C": np.float32(-5e3) + np.array([1, 2, 3, 4], dtype=np.float32),
    "D": np.float32(1e4) * np.array([1, 2, 3, 4], dtype=np.float32),
}
close = [
    k
    for k, batch in candidates.items()
    if abs(float(textbook_var(batch)) - float(np.var(batch.astype(np.float64))))
    <= 0.01 * float(np.var(batch.astype(np.float64)))
]
answer_cancellation = close[0]
''',
    "welford": '''
def welford(x):
    """(count, mean, m2) of the rows of x, updated one row at a time."""
    x = np.asarray(x)
    count = 0
    mean = np.zeros(x.shape[1:], dtype=x.dtype)
    m2 = np.zeros(x.shape[1:], dtype=x.dtype)
    for row in x:
        count += 1
        delta = row - mean
        # the other textbook form of the update: m2 += (k-1)/k * delta^2
        m2 = m2 + delta * delta * x.dtype.type((count - 1) / count)
        mean = mean + delta / x.dtype.type(count)
    return count, mean, m2


def merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """(count, mean, m2) of two streams combined."""
    if n_b == 0:
        return n_a, np.array(mean_a, copy=True), np.array(m2_a, copy=True)
    if n_a == 0:
        return n_b, np.array(mean_b, copy=True), np.array(m2_b, copy=True)
    n = n_a + n_b
    mean = (n_a * mean_a + n_b * mean_b) / n
    delta = mean_b - mean_a
    m2 = m2_a + m2_b + delta**2 * n_a * n_b / n
    return n, mean, m2
''',
    "skew_kurt": '''
def skew_kurt(x):
    """Population skewness and excess kurtosis along axis 0, in x's dtype."""
    x = np.asarray(x)
    d = x - x.mean(axis=0)
    z = d / np.sqrt((d * d).mean(axis=0))  # standardize first
    return (z**3).mean(axis=0), (z**4).mean(axis=0) - 3


cov_x_x2 = 0.0  # E[X^3] - E[X] E[X^2] = 0 - 0 * 1
''',
}

# ------------------- correct 3: shifted data, float64 accumulators, welford through merge
SHIFTED = {
    "expectation": '''
def expectation(values, probs):
    """Expectation sum_k values[k] * probs[k] of a discrete distribution."""
    probs = np.asarray(probs, dtype=np.float64)
    if (probs < 0).any() or not np.isclose(probs.sum(), 1.0, rtol=0, atol=1e-8):
        raise ValueError("probs must be >= 0 and sum to 1 (to within 1e-8)")
    return float((np.asarray(values, dtype=np.float64) * probs).sum())


faces = np.arange(1.0, 7.0)
fair = np.full(6, 1 / 6)
e_x2_die = float(expectation(np.square(faces), fair))
''',
    "two_pass_var": '''
def two_pass_var(x, ddof=0):
    """Variance of x along axis 0 by the two-pass algorithm, in x's dtype."""
    x = np.asarray(x)
    n = x.shape[0]
    if not ddof < n:
        raise ValueError(f"two_pass_var: ddof ({ddof}) >= n ({n})")
    # shift by the first row (exact for a constant column), accumulate in float64
    y = x.astype(np.float64) - x[0].astype(np.float64)
    d = y - y.mean(axis=0)
    return (np.einsum("i...,i...->...", d, d) / (n - ddof)).astype(x.dtype)
''',
    "textbook_var": '''
def textbook_var(x):
    """Variance along axis 0 as mean(x**2) - mean(x)**2, in x's dtype."""
    x = np.asarray(x)
    n = x.dtype.type(x.shape[0])
    s1 = np.sum(x, axis=0)
    s2 = np.sum(np.square(x), axis=0)
    return (s2 - s1 * s1 / n) / n


shifted = (np.float32(1e4) + np.array([1, 2, 3, 4], dtype=np.float32))
answer_cancellation = "D"
''',
    "welford": '''
def merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """(count, mean, m2) of two streams combined."""
    n = n_a + n_b
    if n_a == 0 or n_b == 0:
        return (n, mean_b, m2_b) if n_a == 0 else (n, mean_a, m2_a)
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / n
    m2 = m2_a + m2_b + delta**2 * (n_a * n_b) / n
    return n, mean, m2


def welford(x):
    """(count, mean, m2) of the rows of x, updated one row at a time."""
    x = np.asarray(x)
    state = (0, np.zeros(x.shape[1:], x.dtype), np.zeros(x.shape[1:], x.dtype))
    for row in x:  # Welford's step is Chan's merge with a stream of one row
        state = merge(*state, 1, np.asarray(row, dtype=x.dtype), np.zeros_like(row))
    return state
''',
    "skew_kurt": '''
def skew_kurt(x):
    """Population skewness and excess kurtosis along axis 0, in x's dtype."""
    x = np.asarray(x)
    d = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    m2, m3, m4 = ((d**k).mean(axis=0) for k in (2, 3, 4))
    skew = m3 / (m2 * np.sqrt(m2))
    kurt = m4 / (m2 * m2) - 3.0
    return np.asarray(skew).astype(x.dtype), np.asarray(kurt).astype(x.dtype)


cov_x_x2 = float(0)
''',
}


VARIANTS = {
    "correct_numpy": {
        "kind": "correct",
        "about": "plain NumPy: np.dot, mean then squared deviations, (x*x).mean - mean**2, "
        "classic Welford, Chan's merge in delta form, central moments",
        "cells": NUMPY,
    },
    "correct_loops_float32": {
        "kind": "correct",
        "about": "explicit Python loops accumulating in x's dtype (float32 stays float32), "
        "math.fsum expectation, the (k-1)/k form of Welford, merge by weighted means",
        "cells": LOOPS,
    },
    "correct_shifted_float64": {
        "kind": "correct",
        "about": "two-pass on data shifted by the first row with float64 accumulators cast "
        "back, textbook as (s2 - s1^2/n)/n, Welford as repeated one-row merges",
        "cells": SHIFTED,
    },
    "wrong_no_prob_checks": {
        "kind": "wrong",
        "about": "expectation never raises (no check of negative probabilities or of the sum)",
        "loses": ["test_expectation_random"],
        "cells": _with(
            NUMPY,
            expectation=EXPECTATION_NUMPY.replace(
                """    if np.any(probs < 0):
        raise ValueError("probs: every probability must be >= 0")
    if abs(probs.sum() - 1.0) > 1e-8:
        raise ValueError(f"probs: must sum to 1, got {probs.sum()!r}")
""",
                "",
            ),
        ),
    },
    "wrong_lotus_square_of_mean": {
        "kind": "wrong",
        "about": "LOTUS misapplied: e_x2_die = E[X]**2 (12.25) instead of E[X**2]",
        "loses": ["test_expectation_random"],
        "cells": _with(
            NUMPY,
            expectation=EXPECTATION_NUMPY.replace(
                "e_x2_die = expectation(faces**2, fair)",
                "e_x2_die = expectation(faces, fair) ** 2",
            ),
        ),
    },
    "wrong_ddof_not_refused": {
        "kind": "wrong",
        "about": "two_pass_var never raises for ddof >= n (returns inf or a negative variance)",
        "loses": ["test_two_pass_var_edge"],
        "cells": _with(
            NUMPY,
            two_pass_var=TWO_PASS_NUMPY.replace(
                """    if ddof >= n:
        raise ValueError(f"ddof={ddof} must be smaller than the number of rows n={n}")
""",
                "",
            ),
        ),
    },
    "wrong_divides_by_columns": {
        "kind": "wrong",
        "about": "two_pass_var divides by x.shape[-1] - ddof (columns, right only for 1-D "
        "input)",
        "loses": ["test_two_pass_var_random"],
        "cells": _with(
            NUMPY,
            two_pass_var=TWO_PASS_NUMPY.replace(
                "return ((x - mu) ** 2).sum(axis=0) / (n - ddof)",
                "return ((x - mu) ** 2).sum(axis=0) / (x.shape[-1] - ddof)",
            ),
        ),
    },
    "wrong_textbook_is_two_pass": {
        "kind": "wrong",
        "about": "textbook_var computed by the two-pass algorithm, not E[X^2]-E[X]^2 "
        "(no cancellation: on float32 data far from 0 it returns the true variance)",
        "loses": ["test_textbook_var_reference"],
        "cells": _with(
            NUMPY,
            textbook_var=TEXTBOOK_NUMPY.replace(
                "return (x * x).mean(axis=0) - x.mean(axis=0) ** 2",
                "return ((x - x.mean(axis=0)) ** 2).mean(axis=0)",
            ),
        ),
    },
    "wrong_cancellation_quiz": {
        "kind": "wrong",
        "about": "answer_cancellation = 'A' (the batch shifted, where the formula gives -8)",
        "loses": ["test_textbook_var_reference"],
        "cells": _with(
            NUMPY,
            textbook_var=TEXTBOOK_NUMPY.replace(
                'answer_cancellation = "D"  # spread as large as the mean',
                'answer_cancellation = "A"',
            ),
        ),
    },
    "wrong_welford_float64_state": {
        "kind": "wrong",
        "about": "welford's state starts as float64 zeros, so float32 input gives float64 "
        "mean and m2 (dtype not kept)",
        "loses": ["test_welford_random"],
        "cells": _with(
            NUMPY,
            welford=WELFORD_NUMPY.replace(
                """    mean = np.zeros(x.shape[1:], dtype=x.dtype)
    m2 = np.zeros(x.shape[1:], dtype=x.dtype)""",
                """    mean = np.zeros(x.shape[1:])
    m2 = np.zeros(x.shape[1:])""",
            ),
        ),
    },
    "wrong_merge_no_between_term": {
        "kind": "wrong",
        "about": "merge adds m2_a + m2_b and forgets delta^2 n_a n_b / n",
        "loses": ["test_merge_random"],
        "cells": _with(
            NUMPY,
            welford=WELFORD_NUMPY.replace(
                "m2 = m2_a + m2_b + delta * delta * (n_a * n_b / n)", "m2 = m2_a + m2_b"
            ),
        ),
    },
    "wrong_merge_unweighted_mean": {
        "kind": "wrong",
        "about": "merge averages the two means, (mean_a + mean_b) / 2, whatever the counts",
        "loses": ["test_merge_random"],
        "cells": _with(
            NUMPY,
            welford=WELFORD_NUMPY.replace(
                "mean = mean_a + delta * (n_b / n)", "mean = (mean_a + mean_b) / 2"
            ),
        ),
    },
    "wrong_pearson_kurtosis": {
        "kind": "wrong",
        "about": "skew_kurt returns Pearson's kurtosis m4/m2^2 (forgets the -3)",
        "loses": ["test_skew_kurt_two_point", "test_skew_kurt_reference"],
        "cells": _with(NUMPY, skew_kurt=SKEW_NUMPY.replace("m4 / m2**2 - 3", "m4 / m2**2")),
    },
    "wrong_cov_is_one": {
        "kind": "wrong",
        "about": "cov_x_x2 = 1.0 (Y depends on X, so 'they must covary')",
        "loses": ["test_skew_kurt_reference"],
        "cells": _with(NUMPY, skew_kurt=SKEW_NUMPY.replace("cov_x_x2 = 0.0", "cov_x_x2 = 1.0")),
    },
    "wrong_expectation_unweighted": {
        "kind": "wrong",
        "about": "expectation returns the plain mean of the values (ignores the probabilities)",
        "loses": ["test_expectation_die", "test_expectation_random"],
        "cells": _with(
            NUMPY,
            expectation=EXPECTATION_NUMPY.replace(
                "return float(np.dot(values, probs))", "return float(np.mean(values))"
            ),
        ),
    },
    "wrong_ddof_ignored": {
        "kind": "wrong",
        "about": "two_pass_var always divides by n (ddof only checked, never used)",
        "loses": ["test_two_pass_var_shapes", "test_two_pass_var_random"],
        "cells": _with(
            NUMPY,
            two_pass_var=TWO_PASS_NUMPY.replace(
                "return ((x - mu) ** 2).sum(axis=0) / (n - ddof)",
                "return ((x - mu) ** 2).sum(axis=0) / n",
            ),
        ),
    },
    "wrong_welford_old_mean_twice": {
        "kind": "wrong",
        "about": "welford adds delta**2 with the old mean twice (m2 += delta * delta)",
        "loses": ["test_welford_small", "test_welford_random"],
        "cells": _with(
            NUMPY,
            welford=WELFORD_NUMPY.replace(
                "m2 = m2 + delta * (row - mean)", "m2 = m2 + delta * delta"
            ),
        ),
    },
}
