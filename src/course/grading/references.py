"""The references of the hidden tests that are not a `bnlab` function as it stands.

A hidden test names its reference by dotted path, ``agree(f, "bnlab.moments.var", cases)``; where
the exercise's function takes other arguments or returns another part of bnlab's result, the
reference is one of these adapters, ``"course.grading.references.normalize"``. Each takes the
arguments of the exercise's function (of the same name) and returns what that must return; the
the judge calls it in the grader's own process.
"""

import numpy as np

from bnlab import batchnorm, folding, gradvar, layer, moments


def fail(what="input"):
    """The reference refuses this input."""
    raise ValueError(f"invalid {what}")


def from_stats(count, mean, m2):
    """A `bnlab.moments.RunningMoments` holding the given (count, mean, m2)."""
    mean = np.asarray(mean)
    rm = moments.RunningMoments(mean.shape, mean.dtype)
    rm.count, rm.mean, rm.m2 = int(count), mean.copy(), np.asarray(m2, mean.dtype).copy()
    return rm


def _stats(rm):
    return rm.count, rm.mean, rm.m2


# ------------------------------------------------------------------------ problem set 1


def expectation(v, p):
    """E[g(X)] for values `v` with probabilities `p` (which must be a distribution)."""
    if not ((p >= 0).all() and abs(p.sum() - 1) <= 1e-8):
        fail("probs")
    return np.dot(v, p)


def welford(x):
    """``(count, mean, m2)`` of the stream `x`."""
    return _stats(moments.RunningMoments.from_batch(x))


def merge(na, ma, qa, nb, mb, qb):
    """``(count, mean, m2)`` of two batches merged from their own."""
    return _stats(from_stats(na, ma, qa).merge(from_stats(nb, mb, qb)))


def skew_kurt(x):
    return moments.skewness(x), moments.kurtosis(x)


# ------------------------------------------------------------------------ problem set 2


def total_minibatch_variance(G, B, replace):
    """The exact variance of the minibatch gradient, summed over the parameters."""
    return gradvar.minibatch_variance(G, B, replace).sum()


def loglog_slope(B, v):
    return gradvar.fit_power_law(B, v)[0]


# ------------------------------------------------------------------------ problem set 3


def normalize(x, eps):
    """x_hat of BN with gamma = 1 and beta = 0."""
    ones, zeros = np.ones(x.shape[1], x.dtype), np.zeros(x.shape[1], x.dtype)
    return batchnorm.forward(x, ones, zeros, eps)[0]


def bn_forward(x, gamma, beta, eps):
    return batchnorm.forward(x, gamma, beta, eps)[0]


def undo_params(x, eps):
    """The gamma and beta that undo BN on batch `x`: ``(sqrt(var + eps), mu)``."""
    mu, var = batchnorm.batch_stats(x)[:2]
    return np.sqrt(var + eps).astype(x.dtype), mu


def mean_square_xhat(x, eps):
    """The mean of x_hat**2 over the batch, per feature."""
    return np.mean(normalize(x, eps) ** 2, axis=0)


# ------------------------------------------------------------------------ problem set 4


def bn_backward(dy, x, gamma, eps):
    """``(dx, dgamma, dbeta)`` of BN with beta = 0."""
    return batchnorm.backward(dy, batchnorm.forward(x, gamma, np.zeros_like(gamma), eps)[1])


def bn_backward_scale(dy, x, gamma, eps):
    """The sizes ``(dx, dgamma, dbeta)`` of BN's backward pass are computed from, per result.

    ``dx = gamma * inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat))`` (chapter 5): each of
    the three terms is at most ``|gamma| * inv_std * rms(dy)`` per feature, and ``dx`` itself can
    be far smaller (for m = 2 it is only the eps-leak, about 1e-5 of that, so a tolerance
    relative to ``max|dx|`` fails every correct solution whose order of operations differs from
    the reference's). A correct solution, staged or compact, numpy or torch autograd, has
    rounding errors of a few ``eps(dtype)`` times this scale, times the length of its sums (up to
    m) and the centring's condition ``|mu| / sigma``: measured worst 66 eps (float32 and float64,
    200 seeds, the staged form and torch autograd), against the default tolerance of 840 eps
    (float32: 1e-4) and about 4.5e5 eps (float64: 1e-10). ``dgamma`` and ``dbeta`` are sums:
    their scales are the sums of the magnitudes of their terms. Computed in float64.
    """
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    rms_dy = np.sqrt((dy**2).mean(axis=0))
    return (
        float(np.max(np.abs(np.asarray(gamma, np.float64)) * inv_std * rms_dy)),
        float(np.max(np.abs(dy * x_hat).sum(axis=0))),
        float(np.max(np.abs(dy).sum(axis=0))),
    )


def param_grads(dy, x, gamma, eps):
    """``(dgamma, dbeta)``."""
    return bn_backward(dy, x, gamma, eps)[1:]


# ------------------------------------------------------------------------ problem set 5


def linear_bn(x, W, b, gamma, beta, eps):
    """BN (training mode) of the linear layer ``x @ W.T + b``."""
    return batchnorm.forward(x @ W.T + b, gamma, beta, eps)[0]


def fold_linear_bn(W, b, running_mean, running_var, gamma, beta, eps):
    """``(W_folded, b_folded)`` of a linear layer followed by BN in inference mode."""
    bn = layer.BatchNorm(len(running_mean), eps=eps)
    bn.running_mean, bn.running_var, bn.gamma, bn.beta = running_mean, running_var, gamma, beta
    return folding.fold_into_linear(W, b, bn)


def inference_stats(batches):
    """The running ``(mean, var)`` of BN with ``momentum=None`` after training on `batches`.

    `batches` has shape (T, m, D); step t updates with weight 1/t (PyTorch's cumulative average).
    """
    if batches.ndim != 3:
        fail("batches")
    mean, var = np.zeros(batches.shape[2], batches.dtype), np.ones(batches.shape[2], batches.dtype)
    for t, xb in enumerate(batches, start=1):
        mu_b, var_b = batchnorm.batch_stats(xb)
        mean, var = batchnorm.update_running(mean, var, mu_b, var_b, n=len(xb), momentum=1 / t)
    return mean, var


def bn_sgd_angles(r0, c, lr, steps):
    """Angles by which SGD turns a weight row in front of BN: ``tan = lr c / |w|^2``, chapter 5."""
    if not (r0 > 0 and c > 0 and lr > 0) or steps < 1:
        fail()
    sq, angles = float(r0) ** 2, []
    for _ in range(steps):
        angles.append(np.arctan(lr * c / sq))
        sq += (lr * c) ** 2 / sq
    return np.array(angles)


# ------------------------------------------------------------------------ problem set 6


def local_moments(x):
    """``(count, mean, m2)`` of one process's slice."""
    return _stats(moments.RunningMoments.from_batch(x))


def merge_moments(counts, means, m2s):
    """``(count, mean, m2)`` of the union of slices, merged from their messages."""
    states = [from_stats(c, mu, m2) for c, mu, m2 in zip(counts, means, m2s, strict=True)]
    total = states[0]
    for s in states[1:]:
        total = total.merge(s)
    return _stats(total)


def sync_backward_dx(dy, x, gamma, sizes, eps):
    """The input gradient of synchronized BN: single-process BN's on the whole batch."""
    return bn_backward(dy, x, gamma, eps)[0]


def sync_backward_shares(dy, x, gamma, sizes, eps):
    """Each process's shares ``(dgamma, dbeta)``: the sums over its own slice."""
    x_hat = batchnorm.forward(x, gamma, np.zeros_like(gamma), eps)[1].x_hat
    cut = np.cumsum(sizes)[:-1]
    pairs = zip(np.split(dy, cut), np.split(x_hat, cut), strict=True)
    dgamma = np.array([(d * h).sum(axis=0) for d, h in pairs])
    dbeta = np.array([d.sum(axis=0) for d in np.split(dy, cut)])
    return dgamma, dbeta
