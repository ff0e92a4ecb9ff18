"""Problem set 4 (BN backward): answer cells of the corpus variants.

Written from the student notebook's task texts only (see corpus/README.md).
"""

from edits import sub as _sub
from edits import with_cells as _with

PARAM_NUMPY = '''
def param_grads(dy, x_hat):
    """dL/dgamma and dL/dbeta of batch normalization."""
    dy = np.asarray(dy)
    dgamma = (dy * x_hat).sum(axis=0)
    dbeta = dy.sum(axis=0)
    return dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
'''

COMPACT = '''
def bn_backward(dy, x, gamma, eps=1e-5):
    """Gradients (dx, dgamma, dbeta) of training-mode batch normalization."""
    x = np.asarray(x)
    dy = np.asarray(dy, dtype=x.dtype)
    gamma = np.asarray(gamma, dtype=x.dtype)
    n = x.shape[0]
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv_std
    dbeta = dy.sum(axis=0)
    dgamma = (dy * x_hat).sum(axis=0)
    # the compact formula: dx = gamma / (m sigma) (m dy - sum dy - xhat sum(dy xhat))
    dx = (gamma * inv_std / n) * (n * dy - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
'''

WE3 = """
we3_dx = bn_backward(np.array([[0.5], [-0.5]]), np.array([[1.0], [3.0]]), np.ones(1), eps=0.0)[0]
# with two values, 1 and xhat span every dy, so dx = 0 whatever the upstream gradient
answer_we3 = "A"
"""

SYMPY_HAND = '''
def dxhat_dvar(x, mu, v, eps):
    """d xhat / d v as a SymPy expression."""
    return -(x - mu) / 2 * (v + eps) ** sp.Rational(-3, 2)


def dxhat_dmu(x, mu, v, eps):
    """d xhat / d mu (direct path only) as a SymPy expression."""
    return -1 / sp.sqrt(v + eps)
'''

QUIZ = """
n_coupled = 4  # mean and variance couple every x_i to dy_1
"""

COMPACT_NUMPY = {
    "param_grads": PARAM_NUMPY,
    "bn_backward": COMPACT,
    "we3": WE3,
    "sympy_partials": SYMPY_HAND,
    "quiz": QUIZ,
}

STAGED = {
    "param_grads": '''
def param_grads(dy, x_hat):
    """dL/dgamma and dL/dbeta of batch normalization."""
    dy = np.asarray(dy)
    x_hat = np.asarray(x_hat, dtype=dy.dtype)
    dgamma = np.einsum("nd,nd->d", dy, x_hat)
    dbeta = np.ones(dy.shape[0], dtype=dy.dtype) @ dy
    return dgamma, dbeta
''',
    "bn_backward": '''
def bn_backward(dy, x, gamma, eps=1e-5):
    """Gradients (dx, dgamma, dbeta) of training-mode batch normalization."""
    x = np.asarray(x)
    t = x.dtype.type
    dy = np.asarray(dy).astype(x.dtype)
    gamma = np.asarray(gamma).astype(x.dtype)
    n = x.shape[0]
    # forward, node by node
    mu = x.sum(axis=0) / t(n)
    xmu = x - mu
    var = (xmu * xmu).sum(axis=0) / t(n)
    std = np.sqrt(var + t(eps))
    istd = t(1) / std
    xhat = xmu * istd
    # backward, node by node
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dxhat = dy * gamma
    distd = (dxhat * xmu).sum(axis=0)
    dxmu = dxhat * istd
    dstd = -distd / (std * std)
    dvar = t(0.5) * dstd / std
    dxmu = dxmu + t(2) * xmu * (dvar / t(n))
    dmu = -dxmu.sum(axis=0)
    dx = dxmu + dmu / t(n)
    return dx, dgamma, dbeta
''',
    "we3": """
x3 = np.array([[1.0], [3.0]])
dy3 = np.array([[0.5], [-0.5]])
we3_dx, _, _ = bn_backward(dy3, x3, np.array([1.0]), 0.0)
answer_we3 = "A"
""",
    "sympy_partials": '''
def _xhat(x, mu, v, eps):
    return (x - mu) / sp.sqrt(v + eps)


def dxhat_dvar(x, mu, v, eps):
    """d xhat / d v as a SymPy expression."""
    return sp.diff(_xhat(x, mu, v, eps), v)


def dxhat_dmu(x, mu, v, eps):
    """d xhat / d mu (direct path only) as a SymPy expression."""
    return sp.diff(_xhat(x, mu, v, eps), mu)
''',
    "quiz": """
_x = np.arange(4.0).reshape(4, 1)
_dy = np.array([[1.0], [0.0], [0.0], [0.0]])
n_coupled = int(np.count_nonzero(np.abs(bn_backward(_dy, _x, np.ones(1), 0.0)[0]) > 1e-12))
""",
}

TORCH = {
    "param_grads": '''
def param_grads(dy, x_hat):
    """dL/dgamma and dL/dbeta of batch normalization."""
    dgamma = np.zeros(dy.shape[1], dtype=dy.dtype)
    dbeta = np.zeros(dy.shape[1], dtype=dy.dtype)
    for i in range(dy.shape[0]):  # one example at a time
        dgamma += dy[i] * x_hat[i]
        dbeta += dy[i]
    return dgamma, dbeta
''',
    "bn_backward": '''
import torch


def bn_backward(dy, x, gamma, eps=1e-5):
    """Gradients (dx, dgamma, dbeta) of training-mode batch normalization."""
    x = np.asarray(x)
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(np.asarray(gamma, dtype=x.dtype), requires_grad=True)
    bt = torch.zeros(x.shape[1], dtype=xt.dtype, requires_grad=True)
    mu = xt.mean(dim=0)
    var = ((xt - mu) ** 2).mean(dim=0)
    y = gt * (xt - mu) / torch.sqrt(var + eps) + bt
    y.backward(torch.tensor(np.asarray(dy, dtype=x.dtype)))
    return xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()
''',
    "we3": """
we3_dx = bn_backward(np.array([[0.5], [-0.5]]), np.array([[1.0], [3.0]]), np.array([1.0]), 0)[0]
answer_we3 = "A"
""",
    "sympy_partials": '''
def dxhat_dvar(x, mu, v, eps):
    """d xhat / d v as a SymPy expression."""
    return (mu - x) / (2 * (v + eps) * sp.sqrt(v + eps))


def dxhat_dmu(x, mu, v, eps):
    """d xhat / d mu (direct path only) as a SymPy expression."""
    return -((v + eps) ** (-sp.S.Half))
''',
    "quiz": """
n_coupled = 4.0
""",
}

FLOAT64 = _with(
    COMPACT_NUMPY,
    bn_backward='''
def bn_backward(dy, x, gamma, eps=1e-5):
    """Gradients (dx, dgamma, dbeta) of training-mode batch normalization."""
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    dy64 = np.asarray(dy, dtype=np.float64)
    g64 = np.asarray(gamma, dtype=np.float64)
    xhat = (x64 - x64.mean(axis=0)) / np.sqrt(x64.var(axis=0) + eps)
    dbeta = dy64.sum(axis=0)
    dgamma = (dy64 * xhat).sum(axis=0)
    dxhat = g64 * dy64
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / np.sqrt(
        x64.var(axis=0) + eps
    )
    return dx.astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)
''',
)

VARIANTS = {
    "correct_compact_numpy": {
        "kind": "correct",
        "about": "the compact formula in x's dtype (float32 stays float32)",
        "cells": COMPACT_NUMPY,
    },
    "correct_staged_float32": {
        "kind": "correct",
        "about": "node-by-node (staged) backward in x's dtype, einsum parameter gradients, "
        "sympy.diff for the partials, n_coupled counted with bn_backward",
        "cells": STAGED,
    },
    "correct_torch_autograd": {
        "kind": "correct",
        "about": "bn_backward by torch autograd in x's dtype (the header asks for NumPy; the "
        "numbers are exact), looped parameter gradients, partials in another algebraic form",
        "cells": TORCH,
    },
    "correct_float64_mean_form": {
        "kind": "correct",
        "about": "dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / sigma computed in "
        "float64 and cast back to x's dtype",
        "cells": FLOAT64,
    },
    "wrong_param_grads_mean": {
        "kind": "wrong",
        "about": "param_grads averages over the batch instead of summing",
        "loses": ["test_param_grads_small", "test_param_grads_reference"],
        "cells": _with(
            COMPACT_NUMPY,
            param_grads=_sub(
                _sub(PARAM_NUMPY, "(dy * x_hat).sum(axis=0)", "(dy * x_hat).mean(axis=0)"),
                "dbeta = dy.sum(axis=0)",
                "dbeta = dy.mean(axis=0)",
            ),
        ),
    },
    "wrong_forgot_mean_term": {
        "kind": "wrong",
        "about": "bn_backward forgets the mean term: dx = gamma/sigma (dy - xhat mean(dy xhat))",
        "loses": [
            "test_bn_backward_shapes",
            "test_bn_backward_reference",
            "test_bn_backward_edge",
            "test_we3_property",
        ],
        "cells": _with(
            COMPACT_NUMPY,
            bn_backward=_sub(
                COMPACT, "(n * dy - dbeta - x_hat * dgamma)", "(n * dy - x_hat * dgamma)"
            ),
        ),
    },
    "wrong_forgot_variance_term": {
        "kind": "wrong",
        "about": "bn_backward forgets the variance path: dx = gamma/sigma (dy - mean(dy)); "
        "we3_dx, computed with it, is then not zero",
        "loses": [
            "test_bn_backward_reference",
            "test_we3",
            "test_we3_property",
            "test_bn_backward_shapes",
        ],
        "cells": _with(
            COMPACT_NUMPY,
            bn_backward=_sub(COMPACT, "(n * dy - dbeta - x_hat * dgamma)", "(n * dy - dbeta)"),
        ),
    },
    "wrong_eps_outside_sqrt": {
        "kind": "wrong",
        "about": "bn_backward uses 1 / (sqrt(var) + eps) (eps outside the square root)",
        "loses": ["test_bn_backward_reference", "test_bn_backward_edge", "test_bn_backward_shapes"],
        "cells": _with(
            COMPACT_NUMPY,
            bn_backward=_sub(COMPACT, "1 / np.sqrt(var + eps)", "1 / (np.sqrt(var) + eps)"),
        ),
    },
    "wrong_returns_float64": {
        "kind": "wrong",
        "about": "bn_backward computes in float64 and returns float64 for float32 input",
        "loses": ["test_bn_backward_reference"],
        "cells": _with(
            FLOAT64,
            bn_backward=_sub(
                FLOAT64["bn_backward"],
                "return dx.astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)",
                "return dx, dgamma, dbeta",
            ),
        ),
    },
    "wrong_we3_answer": {
        "kind": "wrong",
        "about": "answer_we3 = 'C' (believes a constant dy = (2, 2) gives a non-zero dx)",
        "loses": ["test_we3"],
        "cells": _with(COMPACT_NUMPY, we3=_sub(WE3, 'answer_we3 = "A"', 'answer_we3 = "C"')),
    },
    "wrong_dvar_missing_half": {
        "kind": "wrong",
        "about": "d xhat / d v without the factor 1/2: -(x - mu) (v + eps)^(-3/2)",
        "loses": ["test_sympy_dvar"],
        "cells": _with(
            COMPACT_NUMPY,
            sympy_partials=_sub(
                SYMPY_HAND,
                "-(x - mu) / 2 * (v + eps) ** sp.Rational(-3, 2)",
                "-(x - mu) * (v + eps) ** sp.Rational(-3, 2)",
            ),
        ),
    },
    "wrong_dmu_sign": {
        "kind": "wrong",
        "about": "d xhat / d mu with the wrong sign: +1 / sqrt(v + eps)",
        "loses": ["test_sympy_dmu"],
        "cells": _with(
            COMPACT_NUMPY,
            sympy_partials=_sub(
                SYMPY_HAND, "return -1 / sp.sqrt(v + eps)", "return 1 / sp.sqrt(v + eps)"
            ),
        ),
    },
    "wrong_n_coupled_one": {
        "kind": "wrong",
        "about": "n_coupled = 1 (believes dL/dx_i depends on dy_i only)",
        "loses": ["test_quiz_coupling"],
        "cells": _with(COMPACT_NUMPY, quiz=_sub(QUIZ, "n_coupled = 4", "n_coupled = 1")),
    },
}
