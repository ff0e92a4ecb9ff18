"""Problem set 5 (train vs inference, placement): answer cells of the corpus variants.

Written from the student notebook's task texts only (see corpus/README.md).
"""

from edits import sub as _sub
from edits import with_cells as _with

RUNNING = '''
def update_running(running_mean, running_var, batch_mean, batch_var, n, momentum=0.1,
                   convention="torch"):
    """One step of the running mean and variance of a BN layer."""
    if n < 2:
        raise ValueError(f"n must be >= 2 values per feature, got {n}")
    if not 0 <= momentum <= 1:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    if convention == "torch":
        new_mean = (1 - momentum) * running_mean + momentum * batch_mean
        new_var = (1 - momentum) * running_var + momentum * batch_var * (n / (n - 1))
    elif convention == "keras":
        new_mean = momentum * running_mean + (1 - momentum) * batch_mean
        new_var = momentum * running_var + (1 - momentum) * batch_var
    else:
        raise ValueError(f"convention must be 'torch' or 'keras', got {convention!r}")
    return new_mean, new_var


keras_momentum = 0.9
window = 100.0
n_eff = 199.0
'''

AFFINE = '''
def inference_affine(running_mean, running_var, gamma, beta, eps=1e-5):
    """scale, shift with y = scale * x + shift for BN in inference mode."""
    dtype = np.asarray(running_mean).dtype
    scale = gamma / np.sqrt(running_var + eps)
    shift = beta - running_mean * scale
    return scale.astype(dtype), shift.astype(dtype)
'''

OPS = """
def bn_ops(d):
    return 4 * d  # subtract, divide, multiply, add per feature


def bn_ops_affine(d):
    return 2 * d  # multiply by scale, add shift


def linear_ops(d_in, d_out):
    return d_out * (d_in + (d_in - 1) + 1)  # products, sums, bias


bn_share = bn_ops_affine(256) / linear_ops(256, 256)
bn_share_as_written = bn_ops(256) / linear_ops(256, 256)
"""

LINEAR_BN = '''
def linear_bn(x, W, b, gamma, beta, eps=1e-5):
    """Training-mode BN applied to a dense layer's output."""
    z = x @ W.T + b
    mu = z.mean(axis=0)
    var = z.var(axis=0)
    return gamma * (z - mu) / np.sqrt(var + eps) + beta


rng = np.random.default_rng(7)
x, W, b = rng.normal(size=(16, 5)), rng.normal(size=(3, 5)), rng.normal(size=3)
gamma, beta = rng.normal(size=3), rng.normal(size=3)
bias_effect = float(np.max(np.abs(linear_bn(x, W, b, gamma, beta)
                                  - linear_bn(x, W, b + 100, gamma, beta))))
scale_effect = float(np.max(np.abs(linear_bn(x, W, b, gamma, beta, eps=0.0)
                                   - linear_bn(x, 7 * W, b, gamma, beta, eps=0.0))))
answer_bias = "C"
'''

FOLD = '''
def fold_linear_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    """Weights and bias of one dense layer equal to dense layer + BN (inference)."""
    scale = gamma / np.sqrt(running_var + eps)
    W_folded = (W * scale[:, None]).astype(W.dtype)
    b_folded = (b - running_mean) * scale + beta
    return W_folded, b_folded.astype(W.dtype)
'''

QUIZ = """
single_output = -1.0  # xhat = 0 / sqrt(0 + eps) = 0, so y = beta
noise_ratio = 0.25  # sqrt(32 / 512)
answer_why = "A"
"""

STATS = '''
def inference_stats(batches):
    """Running mean and variance of a BN layer with momentum=None after training on `batches`."""
    batches = np.asarray(batches)
    if batches.ndim != 3:
        raise ValueError(f"batches must be 3-D (T, m, D), got shape {batches.shape}")
    if batches.shape[1] < 2:
        raise ValueError(f"each batch needs m >= 2 examples, got {batches.shape[1]}")
    means = batches.mean(axis=1)
    variances = batches.var(axis=1, ddof=1)
    return means.mean(axis=0), variances.mean(axis=0)


answer_inference_stats = "B"
'''

ANGLES = '''
def bn_sgd_angles(r0, c, lr, steps):
    """Angles (radians) by which SGD turns a weight row in front of BN, step by step."""
    if not (r0 > 0 and c > 0 and lr > 0):
        raise ValueError("r0, c and lr must be positive")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    sq = float(r0) ** 2  # squared length of the row
    angles = np.empty(steps)
    for t in range(steps):
        angles[t] = np.arctan(lr * c / sq)
        sq = sq + (lr * c) ** 2 / sq
    return angles


angle_ratio = float(bn_sgd_angles(1.0, 1.0, 100.0, 100)[-1] / bn_sgd_angles(1.0, 1.0, 1.0, 100)[-1])
row_length = float(np.sqrt(10.0))
'''

NUMPY = {
    "update_running": RUNNING,
    "inference_affine": AFFINE,
    "op_counts": OPS,
    "linear_bn": LINEAR_BN,
    "fold": FOLD,
    "quiz": QUIZ,
    "inference_stats": STATS,
    "bn_sgd_angles": ANGLES,
}

ALT = {
    "update_running": '''
def update_running(running_mean, running_var, batch_mean, batch_var, n, momentum=0.1,
                   convention="torch"):
    """One step of the running mean and variance of a BN layer."""
    if convention not in ("torch", "keras"):
        raise ValueError("convention: expected 'torch' or 'keras'")
    if n < 2 or momentum < 0 or momentum > 1:
        raise ValueError("need n >= 2 and 0 <= momentum <= 1")
    # both as a step towards the batch value: old + w * (batch - old)
    if convention == "torch":
        w, target_var = momentum, np.asarray(batch_var) * n / (n - 1)
    else:
        w, target_var = 1 - momentum, np.asarray(batch_var)
    new_mean = running_mean + w * (batch_mean - running_mean)
    new_var = running_var + w * (target_var - running_var)
    return new_mean, new_var


keras_momentum = 1 - 0.1
alpha = 0.99
window = 1 / (1 - alpha)
n_eff = (1 + alpha) / (1 - alpha)
''',
    "inference_affine": '''
def inference_affine(running_mean, running_var, gamma, beta, eps=1e-5):
    """scale, shift with y = scale * x + shift for BN in inference mode."""
    running_mean = np.asarray(running_mean)
    t = running_mean.dtype
    inv_std = 1.0 / np.sqrt(np.asarray(running_var, dtype=t) + eps)
    scale = np.asarray(gamma, dtype=t) * inv_std
    shift = np.asarray(beta, dtype=t) - np.asarray(gamma, dtype=t) * running_mean * inv_std
    return scale.astype(t), shift.astype(t)
''',
    "op_counts": '''
class _Counted:
    """A number that counts the arithmetic done with it."""

    ops = 0

    def __init__(self, v):
        self.v = v

    def _op(self, other, f):
        _Counted.ops += 1
        o = other.v if isinstance(other, _Counted) else other
        return _Counted(f(self.v, o))

    def __add__(self, o):
        return self._op(o, lambda a, b: a + b)

    def __sub__(self, o):
        return self._op(o, lambda a, b: a - b)

    def __mul__(self, o):
        return self._op(o, lambda a, b: a * b)

    def __truediv__(self, o):
        return self._op(o, lambda a, b: a / b)


def _count(f):
    _Counted.ops = 0
    f()
    return _Counted.ops


def bn_ops(d):
    xs = [_Counted(1.0) for _ in range(d)]
    return _count(lambda: [(((x - 0.5) / 2.0) * 3.0) + 1.0 for x in xs])


def bn_ops_affine(d):
    xs = [_Counted(1.0) for _ in range(d)]
    return _count(lambda: [x * 1.5 + 0.25 for x in xs])


def linear_ops(d_in, d_out):
    xs = [_Counted(1.0) for _ in range(d_in)]

    def layer():
        for _ in range(d_out):
            acc = xs[0] * 0.5
            for x in xs[1:]:
                acc = acc + x * 0.5
            acc + 0.1  # the bias

    return _count(layer)


bn_share = bn_ops_affine(256) / linear_ops(256, 256)
bn_share_as_written = bn_ops(256) / linear_ops(256, 256)
''',
    "linear_bn": '''
def linear_bn(x, W, b, gamma, beta, eps=1e-5):
    """Training-mode BN applied to a dense layer's output."""
    x = np.asarray(x)
    t = x.dtype.type
    z = np.einsum("ni,oi->no", x, W) + b
    n = z.shape[0]
    mean = z.sum(axis=0) / t(n)
    var = ((z - mean) ** 2).sum(axis=0) / t(n)
    scale = gamma / np.sqrt(var + t(eps))
    return z * scale + (beta - mean * scale)  # folded into one affine map per feature


rng = np.random.default_rng(7)
x, W, b = rng.normal(size=(16, 5)), rng.normal(size=(3, 5)), rng.normal(size=3)
gamma, beta = rng.normal(size=3), rng.normal(size=3)
y = linear_bn(x, W, b, gamma, beta)
bias_effect = float(np.abs(y - linear_bn(x, W, b + 100.0, gamma, beta)).max())
y0 = linear_bn(x, W, b, gamma, beta, 0.0)
scale_effect = float(np.abs(y0 - linear_bn(x, W * 7.0, b, gamma, beta, 0.0)).max())
answer_bias = "C"
''',
    "fold": '''
def fold_linear_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    """Weights and bias of one dense layer equal to dense layer + BN (inference)."""
    W = np.asarray(W)
    scale = np.asarray(gamma) / np.sqrt(np.asarray(running_var) + eps)
    W_folded = np.diag(scale).astype(W.dtype) @ W
    b_folded = scale * b + (beta - scale * running_mean)
    return W_folded, np.asarray(b_folded, dtype=W.dtype)
''',
    "quiz": """
gamma_q, beta_q = 3.0, -1.0
single_output = gamma_q * 0.0 + beta_q
noise_ratio = float(np.sqrt(32 / 512))
answer_why = "A"
""",
    "inference_stats": '''
def inference_stats(batches):
    """Running mean and variance of a BN layer with momentum=None after training on `batches`."""
    batches = np.asarray(batches)
    if batches.ndim != 3 or batches.shape[1] < 2:
        raise ValueError("batches: expected shape (T, m, D) with m >= 2")
    T, m, D = batches.shape
    mean = np.zeros(D, dtype=batches.dtype)
    var = np.zeros(D, dtype=batches.dtype)
    for t in range(T):  # PyTorch's cumulative average: momentum 1 / (number of batches seen)
        bm = batches[t].mean(axis=0)
        bv = ((batches[t] - bm) ** 2).sum(axis=0) / (m - 1)
        mean = mean + (bm - mean) / (t + 1)
        var = var + (bv - var) / (t + 1)
    return mean, var


answer_inference_stats = "B"
''',
    "bn_sgd_angles": '''
def bn_sgd_angles(r0, c, lr, steps):
    """Angles (radians) by which SGD turns a weight row in front of BN, step by step."""
    if r0 <= 0 or c <= 0 or lr <= 0 or steps < 1:
        raise ValueError("need r0 > 0, c > 0, lr > 0 and steps >= 1")
    # follow the row itself in the plane of w and g: g is perpendicular to w, |g| = c / |w|
    w = np.array([float(r0), 0.0])
    out = []
    for _ in range(int(steps)):
        r = np.hypot(*w)
        g = (c / r) * np.array([-w[1], w[0]]) / r
        w_new = w - lr * g
        cross = w[0] * w_new[1] - w[1] * w_new[0]
        out.append(abs(np.arctan2(cross, w @ w_new)))
        w = w_new
    return np.array(out)


a100 = bn_sgd_angles(1, 1, 100, 100)
a1 = bn_sgd_angles(1, 1, 1, 100)
angle_ratio = float(a100[-1] / a1[-1])
row_length = float(np.hypot(1.0, 3.0 * 1.0 / 1.0))
''',
}

FLOAT64 = {
    "update_running": '''
def update_running(running_mean, running_var, batch_mean, batch_var, n, momentum=0.1,
                   convention="torch"):
    """One step of the running mean and variance of a BN layer."""
    conventions = {"torch": (momentum, n / (n - 1) if n > 1 else None),
                   "keras": (1.0 - momentum, 1.0)}
    if convention not in conventions:
        raise ValueError(f"unknown convention {convention!r}")
    if not n >= 2:
        raise ValueError("n: at least 2 values per feature")
    if momentum < 0.0 or momentum > 1.0:
        raise ValueError("momentum: outside [0, 1]")
    w_batch, correction = conventions[convention]
    keep = 1.0 - w_batch
    new_mean = keep * np.asarray(running_mean) + w_batch * np.asarray(batch_mean)
    new_var = keep * np.asarray(running_var) + w_batch * (correction * np.asarray(batch_var))
    return new_mean, new_var


keras_momentum = float(1 - 0.1)
window = float(round(1 / (1 - 0.99)))
n_eff = float(round((1 + 0.99) / (1 - 0.99)))
''',
    "inference_affine": '''
def inference_affine(running_mean, running_var, gamma, beta, eps=1e-5):
    """scale, shift with y = scale * x + shift for BN in inference mode."""
    dtype = np.asarray(running_mean).dtype
    rm = np.asarray(running_mean, dtype=np.float64)
    std = np.sqrt(np.asarray(running_var, dtype=np.float64) + eps)
    scale = np.asarray(gamma, dtype=np.float64) / std
    shift = (np.asarray(beta, dtype=np.float64) * std - np.asarray(gamma) * rm) / std
    return scale.astype(dtype), shift.astype(dtype)
''',
    "op_counts": """
def bn_ops(d):
    per_feature = {"subtract mean": 1, "divide by std": 1, "multiply gamma": 1, "add beta": 1}
    return int(d * sum(per_feature.values()))


def bn_ops_affine(d):
    return int(d * 2)


def linear_ops(d_in, d_out):
    multiplications = d_in * d_out
    additions = (d_in - 1) * d_out
    bias = d_out
    return int(multiplications + additions + bias)


bn_share = 2 * 256 / (2 * 256 * 256)
bn_share_as_written = 4 * 256 / (2 * 256 * 256)
""",
    "linear_bn": '''
def linear_bn(x, W, b, gamma, beta, eps=1e-5):
    """Training-mode BN applied to a dense layer's output."""
    x = np.asarray(x)
    z = x.astype(np.float64) @ np.asarray(W, dtype=np.float64).T + np.asarray(b, np.float64)
    out = np.empty_like(z)
    for j in range(z.shape[1]):  # one output feature at a time, in float64
        col = z[:, j]
        out[:, j] = gamma[j] * (col - col.mean()) / np.sqrt(col.var() + eps) + beta[j]
    return out.astype(x.dtype)


rng = np.random.default_rng(7)
x, W, b = rng.normal(size=(16, 5)), rng.normal(size=(3, 5)), rng.normal(size=3)
gamma, beta = rng.normal(size=3), rng.normal(size=3)
diff_b = linear_bn(x, W, b, gamma, beta) - linear_bn(x, W, b + 100, gamma, beta)
diff_w = linear_bn(x, W, b, gamma, beta, 0) - linear_bn(x, 7 * W, b, gamma, beta, 0)
bias_effect = float(np.max(np.abs(diff_b)))
scale_effect = float(np.max(np.abs(diff_w)))
answer_bias = "C"
''',
    "fold": '''
def fold_linear_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    """Weights and bias of one dense layer equal to dense layer + BN (inference)."""
    W = np.asarray(W)
    std = np.sqrt(np.asarray(running_var, dtype=np.float64) + eps)
    W_folded = np.asarray(gamma, np.float64)[:, None] * W.astype(np.float64) / std[:, None]
    b_folded = np.asarray(gamma, np.float64) * (np.asarray(b, np.float64) - running_mean) / std
    b_folded = b_folded + beta
    return W_folded.astype(W.dtype), b_folded.astype(W.dtype)
''',
    "quiz": """
single_output = -1
noise_ratio = 1 / 4
answer_why = "A"
""",
    "inference_stats": '''
def inference_stats(batches):
    """Running mean and variance of a BN layer with momentum=None after training on `batches`."""
    batches = np.asarray(batches)
    if batches.ndim != 3:
        raise ValueError("batches: expected a 3-D array (T, m, D)")
    T, m, D = batches.shape
    if m < 2:
        raise ValueError("batches: m must be at least 2 (unbiased variance)")
    b64 = batches.astype(np.float64)
    mean = b64.mean(axis=(0, 1))  # every batch has m examples: mean of means = overall mean
    dev = b64 - b64.mean(axis=1, keepdims=True)
    var = (dev**2).sum(axis=(0, 1)) / (T * (m - 1))
    return mean.astype(batches.dtype), var.astype(batches.dtype)


answer_inference_stats = "B"
''',
    "bn_sgd_angles": '''
import math


def bn_sgd_angles(r0, c, lr, steps):
    """Angles (radians) by which SGD turns a weight row in front of BN, step by step."""
    for name, v in (("r0", r0), ("c", c), ("lr", lr)):
        if not v > 0:
            raise ValueError(f"{name} must be positive, got {v}")
    if steps < 1:
        raise ValueError("steps must be at least 1")
    r = float(r0)
    out = np.zeros(steps)
    for t in range(steps):
        step = lr * c / r  # length of the step lr * |g|
        out[t] = math.atan2(step, r)
        r = math.hypot(r, step)
    return out


angle_ratio = float(bn_sgd_angles(1.0, 1.0, 100.0, 100)[99]) / float(
    bn_sgd_angles(1.0, 1.0, 1.0, 100)[99]
)
row_length = math.sqrt(1.0 + 3.0**2)
''',
}


VARIANTS = {
    "correct_numpy": {
        "kind": "correct",
        "about": "the formulas as written, np.var(ddof=1) for the cumulative statistics, "
        "a loop on the squared row length",
        "cells": NUMPY,
    },
    "correct_alternative_forms": {
        "kind": "correct",
        "about": "running averages as old + w (batch - old), computed 1/(1-a) numbers, "
        "operations counted with an instrumented number, folded linear_bn, np.diag folding, "
        "cumulative statistics by PyTorch's 1/t updates, angles from the rotating 2-D row",
        "cells": ALT,
    },
    "correct_float64": {
        "kind": "correct",
        "about": "float64 internals cast back to the input dtype, per-feature loops, pooled "
        "within-batch sums for the variance, atan2/hypot for the angles",
        "cells": FLOAT64,
    },
    "wrong_torch_biased_running_var": {
        "kind": "wrong",
        "about": "torch convention averages the biased batch variance (no n/(n-1))",
        "loses": ["test_update_running_torch_step", "test_update_running_reference"],
        "cells": _with(
            NUMPY,
            update_running=_sub(
                RUNNING, "momentum * batch_var * (n / (n - 1))", "momentum * batch_var"
            ),
        ),
    },
    "wrong_keras_as_torch_momentum": {
        "kind": "wrong",
        "about": "keras convention weights the batch by momentum (the PyTorch meaning)",
        "loses": ["test_update_running_torch_step", "test_update_running_reference"],
        "cells": _with(
            NUMPY,
            update_running=_sub(
                _sub(
                    RUNNING,
                    "new_mean = momentum * running_mean + (1 - momentum) * batch_mean",
                    "new_mean = (1 - momentum) * running_mean + momentum * batch_mean",
                ),
                "new_var = momentum * running_var + (1 - momentum) * batch_var",
                "new_var = (1 - momentum) * running_var + momentum * batch_var",
            ),
        ),
    },
    "wrong_running_momentum_unchecked": {
        "kind": "wrong",
        "about": "update_running accepts a momentum outside [0, 1]",
        "loses": ["test_update_running_reference"],
        "cells": _with(
            NUMPY,
            update_running=_sub(
                RUNNING,
                """    if not 0 <= momentum <= 1:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
""",
                "",
            ),
        ),
    },
    "wrong_window_mean_age": {
        "kind": "wrong",
        "about": "window = 99 (the mean age a/(1-a), not the time constant 1/(1-a))",
        "loses": ["test_momentum_numbers"],
        "cells": _with(NUMPY, update_running=_sub(RUNNING, "window = 100.0", "window = 99.0")),
    },
    "wrong_affine_eps_outside_sqrt": {
        "kind": "wrong",
        "about": "inference_affine uses gamma / (sqrt(running_var) + eps)",
        "loses": ["test_inference_affine_reference"],
        "cells": _with(
            NUMPY,
            inference_affine=_sub(
                AFFINE,
                "gamma / np.sqrt(running_var + eps)",
                "gamma / (np.sqrt(running_var) + eps)",
            ),
        ),
    },
    "wrong_linear_ops_no_bias": {
        "kind": "wrong",
        "about": "linear_ops forgets the bias additions: d_out (2 d_in - 1)",
        "loses": ["test_op_counts_counted"],
        "cells": _with(
            NUMPY, op_counts=_sub(OPS, "d_out * (d_in + (d_in - 1) + 1)", "d_out * (2 * d_in - 1)")
        ),
    },
    "wrong_bn_share_as_written": {
        "kind": "wrong",
        "about": "bn_share uses the four-operation count bn_ops (1/128, not 1/256)",
        "loses": ["test_op_counts_counted"],
        "cells": _with(
            NUMPY,
            op_counts=_sub(
                OPS,
                "bn_share = bn_ops_affine(256) / linear_ops(256, 256)",
                "bn_share = bn_ops(256) / linear_ops(256, 256)",
            ),
        ),
    },
    "wrong_linear_bn_unbiased_var": {
        "kind": "wrong",
        "about": "linear_bn normalizes with the unbiased variance (ddof=1)",
        "loses": ["test_linear_bn_shape", "test_linear_bn_reference"],
        "cells": _with(
            NUMPY, linear_bn=_sub(LINEAR_BN, "var = z.var(axis=0)", "var = z.var(axis=0, ddof=1)")
        ),
    },
    "wrong_bias_effect_before_bn": {
        "kind": "wrong",
        "about": "bias_effect measured on the dense layer's output before BN (100, not ~0)",
        "loses": ["test_bias_has_no_effect"],
        "cells": _with(
            NUMPY,
            linear_bn=_sub(
                LINEAR_BN,
                """bias_effect = float(np.max(np.abs(linear_bn(x, W, b, gamma, beta)
                                  - linear_bn(x, W, b + 100, gamma, beta))))""",
                "bias_effect = float(np.max(np.abs((x @ W.T + b) - (x @ W.T + b + 100))))",
            ),
        ),
    },
    "wrong_fold_bias_unscaled_mean": {
        "kind": "wrong",
        "about": "fold_linear_bn: b_folded = scale * b + beta - running_mean "
        "(the running mean not scaled)",
        "loses": ["test_fold_shapes", "test_fold_reference"],
        "cells": _with(
            NUMPY,
            fold=_sub(
                FOLD,
                "b_folded = (b - running_mean) * scale + beta",
                "b_folded = b * scale + beta - running_mean",
            ),
        ),
    },
    "wrong_fold_dtype": {
        "kind": "wrong",
        "about": "fold_linear_bn does not cast: float64 weights for a float32 W with float64 "
        "statistics (dtype not kept)",
        "loses": ["test_fold_reference"],
        "cells": _with(
            NUMPY,
            fold=_sub(
                _sub(FOLD, "(W * scale[:, None]).astype(W.dtype)", "W * scale[:, None]"),
                "return W_folded, b_folded.astype(W.dtype)",
                "return W_folded, b_folded",
            ),
        ),
    },
    "wrong_quiz_single_output": {
        "kind": "wrong",
        "about": "single_output = 0.0 (forgets beta after the zero normalized value)",
        "loses": ["test_quiz_inference"],
        "cells": _with(NUMPY, quiz=_sub(QUIZ, "single_output = -1.0", "single_output = 0.0")),
    },
    "wrong_quiz_noise_ratio": {
        "kind": "wrong",
        "about": "noise_ratio = 1/16 (scales the standard deviation like 1/m)",
        "loses": ["test_quiz_regularization"],
        "cells": _with(NUMPY, quiz=_sub(QUIZ, "noise_ratio = 0.25", "noise_ratio = 0.0625")),
    },
    "wrong_quiz_why": {
        "kind": "wrong",
        "about": "answer_why = 'B' (the covariate-shift story)",
        "loses": ["test_quiz_why"],
        "cells": _with(NUMPY, quiz=_sub(QUIZ, 'answer_why = "A"', 'answer_why = "B"')),
    },
    "wrong_inference_stats_no_checks": {
        "kind": "wrong",
        "about": "inference_stats refuses nothing (2-D input and m = 1 go through)",
        "loses": ["test_inference_stats_reference"],
        "cells": _with(
            NUMPY,
            inference_stats=_sub(
                STATS,
                """    if batches.ndim != 3:
        raise ValueError(f"batches must be 3-D (T, m, D), got shape {batches.shape}")
    if batches.shape[1] < 2:
        raise ValueError(f"each batch needs m >= 2 examples, got {batches.shape[1]}")
""",
                "",
            ),
        ),
    },
    "wrong_inference_stats_quiz": {
        "kind": "wrong",
        "about": "answer_inference_stats = 'A' (statistics of the inference batch)",
        "loses": ["test_quiz_inference_stats"],
        "cells": _with(
            NUMPY,
            inference_stats=_sub(
                STATS, 'answer_inference_stats = "B"', 'answer_inference_stats = "A"'
            ),
        ),
    },
    "wrong_angles_no_checks": {
        "kind": "wrong",
        "about": "bn_sgd_angles refuses nothing (negative rates and steps = 0 go through)",
        "loses": ["test_bn_sgd_angles_reference"],
        "cells": _with(
            NUMPY,
            bn_sgd_angles=_sub(
                _sub(
                    ANGLES,
                    """    if not (r0 > 0 and c > 0 and lr > 0):
        raise ValueError("r0, c and lr must be positive")
""",
                    "",
                ),
                """    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
""",
                "",
            ),
        ),
    },
    "wrong_angles_fixed_length": {
        "kind": "wrong",
        "about": "bn_sgd_angles never lengthens the row (every angle arctan(lr c / r0^2)); "
        "angle_ratio computed with it is wrong too",
        "loses": ["test_bn_sgd_angles_small", "test_bn_sgd_angles_reference", "test_lr_answers"],
        "cells": _with(
            NUMPY,
            bn_sgd_angles=_sub(ANGLES, "        sq = sq + (lr * c) ** 2 / sq\n", ""),
        ),
    },
    "wrong_row_length": {
        "kind": "wrong",
        "about": "row_length = 4 (adds the step length to the row length, 1 + 3)",
        "loses": ["test_lr_answers"],
        "cells": _with(
            NUMPY,
            bn_sgd_angles=_sub(ANGLES, "row_length = float(np.sqrt(10.0))", "row_length = 4.0"),
        ),
    },
    "wrong_affine_shift_sign": {
        "kind": "wrong",
        "about": "inference_affine: shift = beta + running_mean * scale (sign of the mean)",
        "loses": ["test_inference_affine_small", "test_inference_affine_reference"],
        "cells": _with(
            NUMPY,
            inference_affine=_sub(
                AFFINE, "shift = beta - running_mean * scale", "shift = beta + running_mean * scale"
            ),
        ),
    },
    "wrong_op_counts_floats": {
        "kind": "wrong",
        "about": "the three counts are floats (4.0 * d), not integers; the values are right",
        "loses": ["test_op_counts_types"],
        "cells": _with(
            NUMPY,
            op_counts=_sub(
                _sub(_sub(OPS, "return 4 * d", "return 4.0 * d"), "return 2 * d", "return 2.0 * d"),
                "return d_out * (d_in + (d_in - 1) + 1)",
                "return float(d_out * (d_in + (d_in - 1) + 1))",
            ),
        ),
    },
    "wrong_inference_stats_biased": {
        "kind": "wrong",
        "about": "inference_stats averages the biased batch variances (ddof=0)",
        "loses": ["test_inference_stats_small", "test_inference_stats_reference"],
        "cells": _with(
            NUMPY,
            inference_stats=_sub(
                STATS, "variances = batches.var(axis=1, ddof=1)", "variances = batches.var(axis=1)"
            ),
        ),
    },
}
