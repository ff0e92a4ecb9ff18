"""bnlab.batchnorm against independent oracles: torch float64, finite differences, closed forms."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bnlab import batchnorm as bn

DTYPES = [np.float32, np.float64]
SHAPES = [(8, 3), (5, 1), (4, 3, 5), (2, 3, 4, 5), (2, 2, 3, 2, 2)]
RTOL64 = 1e-12


def rel_error(a, b):
    """CS231n's relative error, written here so the test does not trust bnlab.gradcheck."""
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


def numerical_vjp(f, x, dy, h=1e-6):
    """Central differences of sum(f(x) * dy) with respect to each entry of x (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.sum(f(x) * dy)
        x[i] = old - h
        minus = np.sum(f(x) * dy)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def make_batch(shape, dtype=np.float64, seed=0):
    """x with a different mean and scale per channel, gamma, beta and an upstream gradient dy."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    loc = bn._per_channel(rng.normal(0, 3, c), len(shape))
    scale = bn._per_channel(rng.uniform(0.5, 2, c), len(shape))
    x = (loc + scale * rng.standard_normal(shape)).astype(dtype)
    gamma = rng.uniform(0.5, 2, c).astype(dtype)
    beta = rng.normal(0, 1, c).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dy


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def torch_forward_backward(x, gamma, beta, dy, eps=1e-5):
    """Torch float64 training-mode batch norm: y and the autograd gradients dx, dgamma, dbeta."""
    xt, gt, bt = (t64(a).requires_grad_() for a in (x, gamma, beta))
    y = F.batch_norm(xt, None, None, weight=gt, bias=bt, training=True, eps=eps)
    y.backward(t64(dy))
    return y.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


def tol(dtype):
    """Tolerance relative to the size of the result: 1e-12 in float64, a few hundred eps in 32."""
    return RTOL64 if dtype == np.float64 else 256 * np.finfo(dtype).eps


def assert_close(actual, expected, dtype):
    """Agreement to tol(dtype) relative to the largest entry of the expected array."""
    scale = max(1.0, np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol(dtype) * scale)


class TestForward:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("shape", SHAPES)
    def test_matches_torch(self, shape, dtype):
        x, gamma, beta, dy = make_batch(shape, dtype)
        y, cache = bn.forward(x, gamma, beta)
        y_ref, *_ = torch_forward_backward(x, gamma, beta, dy)
        assert y.dtype == dtype and y.shape == shape
        assert_close(y, y_ref, dtype)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_cache_statistics(self, shape):
        x, gamma, beta, _ = make_batch(shape)
        _, cache = bn.forward(x, gamma, beta, eps=1e-3)
        axes = (0, *range(2, len(shape)))
        assert cache.axes == axes and cache.eps == 1e-3
        np.testing.assert_allclose(cache.mu, x.mean(axis=axes), rtol=RTOL64)
        np.testing.assert_allclose(cache.var, x.var(axis=axes), rtol=RTOL64)
        np.testing.assert_allclose(cache.inv_std, 1 / np.sqrt(x.var(axis=axes) + 1e-3))
        assert cache.mu.shape == cache.var.shape == (shape[1],)

    def test_per_channel_equals_flattened_per_feature(self):
        x, gamma, beta, _ = make_batch((3, 4, 5, 2))
        y, _ = bn.forward(x, gamma, beta)
        flat = np.moveaxis(x, 1, -1).reshape(-1, 4)
        y_flat, _ = bn.forward(flat, gamma, beta)
        np.testing.assert_allclose(np.moveaxis(y, 1, -1).reshape(-1, 4), y_flat, rtol=RTOL64)

    def test_gamma_beta_undo_normalization(self):
        x, _, _, _ = make_batch((16, 3))
        mu, var = bn.batch_stats(x)
        eps = 1e-5
        y, _ = bn.forward(x, np.sqrt(var + eps), mu, eps=eps)
        np.testing.assert_allclose(y, x, rtol=RTOL64)

    def test_worked_example_1(self):
        x = np.array([[2.0], [4.0], [6.0], [8.0]])
        y, cache = bn.forward(x, np.ones(1), np.zeros(1), eps=0.0)
        assert cache.mu[0] == 5.0 and cache.var[0] == 5.0
        np.testing.assert_allclose(y.ravel(), np.array([-3, -1, 1, 3]) / np.sqrt(5), rtol=RTOL64)
        assert abs(y.mean()) < 1e-15
        np.testing.assert_allclose(y.var(), 1.0, rtol=RTOL64)

    def test_worked_example_2(self):
        x = np.array([[2.0], [4.0], [6.0], [8.0]])
        y, _ = bn.forward(x, np.array([2.0]), np.array([1.0]), eps=0.0)
        expected = 2 * np.array([-3, -1, 1, 3]) / np.sqrt(5) + 1
        np.testing.assert_allclose(y.ravel(), expected, rtol=RTOL64)
        np.testing.assert_allclose([y.mean(), y.var()], [1.0, 4.0], rtol=RTOL64)

    @settings(max_examples=60, deadline=None)
    @given(
        n=st.integers(2, 20),
        c=st.integers(1, 3),
        spatial=st.lists(st.integers(1, 3), max_size=2),
        log_scale=st.floats(-3, 3),
        offset=st.floats(-1e6, 1e6),
        seed=st.integers(0, 2**16),
    )
    def test_output_moments_property(self, n, c, spatial, log_scale, offset, seed):
        shape = (n, c, *spatial)
        rng = np.random.default_rng(seed)
        x = offset + 10.0**log_scale * rng.standard_normal(shape)
        eps = 1e-5
        y, _ = bn.forward(x, np.ones(c), np.zeros(c), eps=eps)
        axes = (0, *range(2, len(shape)))
        # x - offset is exact (Sterbenz) for the large offsets, so this variance is accurate.
        v = np.var(x - offset, axis=axes)
        np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-6)
        np.testing.assert_allclose(y.var(axis=axes), v / (v + eps), rtol=1e-6, atol=1e-12)

    def test_constant_feature_is_finite(self):
        x, gamma, beta, _ = make_batch((6, 3))
        x[:, 1] = 7.0
        y, cache = bn.forward(x, gamma, beta)
        assert np.all(np.isfinite(y))
        assert cache.var[1] == 0.0
        np.testing.assert_array_equal(y[:, 1], beta[1])


class TestBackward:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("shape", SHAPES)
    def test_matches_torch_autograd(self, shape, dtype):
        x, gamma, beta, dy = make_batch(shape, dtype)
        _, cache = bn.forward(x, gamma, beta)
        dx, dgamma, dbeta = bn.backward(dy, cache)
        _, dx_ref, dgamma_ref, dbeta_ref = torch_forward_backward(x, gamma, beta, dy)
        assert dx.dtype == dgamma.dtype == dbeta.dtype == dtype
        assert dx.shape == shape and dgamma.shape == dbeta.shape == (shape[1],)
        assert_close(dx, dx_ref, dtype)
        assert_close(dgamma, dgamma_ref, dtype)
        assert_close(dbeta, dbeta_ref, dtype)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("shape", SHAPES)
    def test_staged_equals_compact(self, shape, dtype):
        x, gamma, beta, dy = make_batch(shape, dtype)
        _, cache = bn.forward(x, gamma, beta)
        for got, want in zip(bn.backward_staged(dy, cache), bn.backward(dy, cache), strict=True):
            assert got.dtype == dtype
            assert_close(got, want, dtype)

    @pytest.mark.parametrize("shape", [(4, 2), (3, 2, 2), (2, 2, 2, 2)])
    def test_matches_finite_differences(self, shape):
        x, gamma, beta, dy = make_batch(shape, seed=1)
        _, cache = bn.forward(x, gamma, beta)
        dx, dgamma, dbeta = bn.backward(dy, cache)
        dx_num = numerical_vjp(lambda v: bn.forward(v, gamma, beta)[0], x, dy)
        dgamma_num = numerical_vjp(lambda g: bn.forward(x, g, beta)[0], gamma, dy)
        dbeta_num = numerical_vjp(lambda b: bn.forward(x, gamma, b)[0], beta, dy)
        assert rel_error(dx, dx_num) < 1e-8
        assert rel_error(dgamma, dgamma_num) < 1e-8
        assert rel_error(dbeta, dbeta_num) < 1e-8

    def test_dx_orthogonal_to_ones_and_x_hat(self):
        # exact for eps = 0 only: then sum(x_hat**2) = m
        x, gamma, beta, dy = make_batch((10, 3))
        _, cache = bn.forward(x, gamma, beta, eps=0.0)
        dx, _, _ = bn.backward(dy, cache)
        np.testing.assert_allclose(dx.sum(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose((dx * cache.x_hat).sum(axis=0), 0.0, atol=1e-12)

    def test_worked_example_3(self):
        _, cache = bn.forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), eps=0.0)
        dy = np.array([[0.5], [-0.5]])
        np.testing.assert_array_equal(cache.x_hat.ravel(), [-1.0, 1.0])
        for backward in (bn.backward, bn.backward_staged):
            dx, dgamma, dbeta = backward(dy, cache)
            np.testing.assert_allclose(dx.ravel(), [0.0, 0.0], atol=1e-15)
            np.testing.assert_allclose([dgamma[0], dbeta[0]], [-1.0, 0.0], atol=1e-15)

    def test_constant_feature_gradient_is_finite(self):
        x, gamma, beta, dy = make_batch((6, 3))
        x[:, 1] = 7.0
        _, cache = bn.forward(x, gamma, beta)
        for backward in (bn.backward, bn.backward_staged):
            grads = backward(dy, cache)
            assert all(np.all(np.isfinite(g)) for g in grads)
        _, dx_ref, dgamma_ref, dbeta_ref = torch_forward_backward(x, gamma, beta, dy)
        dx, dgamma, dbeta = bn.backward(dy, cache)
        assert_close(dx, dx_ref, np.float64)
        assert_close(dgamma, dgamma_ref, np.float64)
        assert_close(dbeta, dbeta_ref, np.float64)
