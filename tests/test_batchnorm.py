"""bnlab.batchnorm's kernels against independent oracles: torch, finite differences, formulas."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bnlab import batchnorm as bn
from bnlab.torch_bn import TorchBN

DTYPES = [np.float32, np.float64]
SHAPES = [(8, 3), (5, 1), (4, 3, 5), (2, 3, 4, 5), (2, 2, 3, 2, 2)]
RTOL64 = 1e-12


def channel_view(v, ndim):
    """(C,) as (1, C, 1, ...): written here, not taken from the code under test."""
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


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
    loc = channel_view(rng.normal(0, 3, c), len(shape))
    scale = channel_view(rng.uniform(0.5, 2, c), len(shape))
    x = (loc + scale * rng.standard_normal(shape)).astype(dtype)
    gamma = rng.uniform(0.5, 2, c).astype(dtype)
    beta = rng.normal(0, 1, c).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dy


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def torch64(x, gamma, beta):
    """The oracle in float64, whatever the dtype under test."""
    return TorchBN(*(np.asarray(a, dtype=np.float64) for a in (x, gamma, beta)))


def tol(dtype):
    """Tolerance relative to the size of the result: 1e-12 in float64, a few hundred eps in 32."""
    return RTOL64 if dtype == np.float64 else 256 * np.finfo(dtype).eps


def assert_close(actual, expected, dtype):
    """Agreement to tol(dtype) relative to the largest entry of the expected array."""
    scale = max(1.0, np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol(dtype) * scale)


# Hypothesis strategies for x = offset + 10**log_scale * N(0, 1) of shape (n, c, *spatial).
SCALED_BATCHES = dict(
    c=st.integers(1, 3),
    spatial=st.lists(st.integers(1, 3), max_size=2),
    log_scale=st.floats(-3, 3),
    offset=st.floats(-1e6, 1e6),
    seed=st.integers(0, 2**16),
)


class TestForward:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("shape", SHAPES)
    def test_matches_torch(self, shape, dtype):
        x, gamma, beta, dy = make_batch(shape, dtype)
        y, cache = bn.forward(x, gamma, beta)
        y_ref = torch64(x, gamma, beta).y
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
    @given(n=st.integers(2, 20), **SCALED_BATCHES)
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
        dx_ref, dgamma_ref, dbeta_ref = torch64(x, gamma, beta).backward(dy.astype(np.float64))
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

    @settings(max_examples=40, deadline=None)
    @given(n=st.integers(2, 12), **SCALED_BATCHES)
    def test_matches_torch_over_scales_property(self, n, c, spatial, log_scale, offset, seed):
        shape, scale = (n, c, *spatial), 10.0**log_scale
        rng = np.random.default_rng(seed)
        x = offset + scale * rng.standard_normal(shape)
        gamma, beta = random_params(c, rng)
        dy = rng.standard_normal(shape)
        _, cache = bn.forward(x, gamma, beta)
        dx_ref, dgamma_ref, dbeta_ref = torch64(x, gamma, beta).backward(dy.astype(np.float64))
        # The two mean computations may differ by ~eps * |offset|, i.e. by that over scale
        # relative to the centred data. dx is a difference of terms of size `terms` that can
        # cancel almost completely (m = 2), so the tolerance is relative to the terms.
        rtol = RTOL64 + 64 * np.finfo(np.float64).eps * abs(offset) / scale
        terms = np.max(gamma * cache.inv_std) * np.abs(dy).max() * (2 + np.max(cache.x_hat**2))
        for backward in (bn.backward, bn.backward_staged):
            dx, dgamma, dbeta = backward(dy, cache)
            np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=rtol * terms)
            np.testing.assert_allclose(dgamma, dgamma_ref, rtol=0, atol=rtol * np.abs(dy).sum())
            np.testing.assert_allclose(dbeta, dbeta_ref, rtol=0, atol=RTOL64 * np.abs(dy).sum())

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
        dx_ref, dgamma_ref, dbeta_ref = torch64(x, gamma, beta).backward(dy.astype(np.float64))
        dx, dgamma, dbeta = bn.backward(dy, cache)
        assert_close(dx, dx_ref, np.float64)
        assert_close(dgamma, dgamma_ref, np.float64)
        assert_close(dbeta, dbeta_ref, np.float64)


def random_params(c, rng):
    return rng.uniform(0.5, 2, c), rng.normal(0, 1, c)


class TestRunningStats:
    def test_torch_convention_formula(self):
        rng = np.random.default_rng(0)
        rm, rv, x = rng.normal(size=3), rng.uniform(1, 2, 3), rng.normal(2, 3, (7, 3))
        new_mean, new_var = bn.update_running(rm, rv, x.mean(0), x.var(0), n=7, momentum=0.2)
        np.testing.assert_allclose(new_mean, 0.8 * rm + 0.2 * x.mean(0), rtol=RTOL64)
        np.testing.assert_allclose(new_var, 0.8 * rv + 0.2 * x.var(0, ddof=1), rtol=RTOL64)

    def test_keras_convention_formula(self):
        # Keras: moving = moving * momentum + batch * (1 - momentum), batch variance biased
        rng = np.random.default_rng(1)
        rm, rv, x = rng.normal(size=3), rng.uniform(1, 2, 3), rng.normal(2, 3, (7, 3))
        new_mean, new_var = bn.update_running(
            rm, rv, x.mean(0), x.var(0), n=7, momentum=0.99, convention="keras"
        )
        np.testing.assert_allclose(new_mean, 0.99 * rm + 0.01 * x.mean(0), rtol=RTOL64)
        np.testing.assert_allclose(new_var, 0.99 * rv + 0.01 * x.var(0), rtol=RTOL64)

    def test_keras_is_torch_with_complementary_momentum(self):
        rng = np.random.default_rng(2)
        args = rng.normal(size=3), rng.uniform(1, 2, 3), rng.normal(size=3), rng.uniform(1, 2, 3)
        keras = bn.update_running(*args, n=5, momentum=0.7, convention="keras", unbiased=True)
        torch_ = bn.update_running(*args, n=5, momentum=0.3, convention="torch", unbiased=True)
        for k, t in zip(keras, torch_, strict=True):
            np.testing.assert_allclose(k, t, rtol=RTOL64)

    @pytest.mark.parametrize("convention", ["torch", "keras"])
    def test_momentum_extremes(self, convention):
        rm, rv, bm, bv = np.zeros(2), np.ones(2), np.array([3.0, 4.0]), np.array([2.0, 6.0])
        keep = 0.0 if convention == "torch" else 1.0
        replace = 1.0 - keep
        kept = bn.update_running(rm, rv, bm, bv, 4, momentum=keep, convention=convention)
        np.testing.assert_array_equal(kept[0], rm)
        np.testing.assert_array_equal(kept[1], rv)
        new = bn.update_running(rm, rv, bm, bv, 4, replace, convention, unbiased=False)
        np.testing.assert_array_equal(new[0], bm)
        np.testing.assert_array_equal(new[1], bv)

    def test_inputs_not_modified_and_dtype_kept(self):
        rm, rv = np.zeros(2, np.float32), np.ones(2, np.float32)
        new_mean, new_var = bn.update_running(rm, rv, np.ones(2), np.ones(2), n=3)
        np.testing.assert_array_equal(rm, 0.0)
        np.testing.assert_array_equal(rv, 1.0)
        assert new_mean.dtype == new_var.dtype == np.float32


class TestInference:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_affine_equals_torch_eval(self, shape):
        rng = np.random.default_rng(8)
        c = shape[1]
        (gamma, beta), rm, rv = random_params(c, rng), rng.normal(size=c), rng.uniform(0.5, 2, c)
        x = rng.normal(2, 3, shape)
        scale, shift = bn.inference_affine(rm, rv, gamma, beta)
        y = channel_view(scale, x.ndim) * x + channel_view(shift, x.ndim)
        y_ref = F.batch_norm(t64(x), t64(rm), t64(rv), t64(gamma), t64(beta), training=False)
        np.testing.assert_allclose(y, y_ref.numpy(), rtol=0, atol=RTOL64 * np.abs(y).max())

    def test_matches_torch_functional_eval(self):
        rng = np.random.default_rng(9)
        x, (gamma, beta) = rng.normal(size=(5, 3, 4)), random_params(3, rng)
        rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, 3)
        y = bn.inference(x, rm, rv, gamma, beta)
        y_ref = F.batch_norm(t64(x), t64(rm), t64(rv), t64(gamma), t64(beta), training=False)
        np.testing.assert_allclose(y, y_ref.numpy(), rtol=RTOL64)


class TestBadInput:
    @pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
    def test_one_value_per_channel_in_training(self, shape):
        x, gamma, beta = np.ones(shape), np.ones(3), np.zeros(3)
        with pytest.raises(ValueError, match="x must have at least 2 values per channel"):
            bn.forward(x, gamma, beta)
        with pytest.raises(ValueError):  # torch refuses too
            F.batch_norm(t64(x), None, None, training=True)

    def test_one_sample_with_spatial_extent_is_allowed(self):
        x, gamma, beta, _ = make_batch((1, 2, 3, 3))
        y, _ = bn.forward(x, gamma, beta)
        y_ref = F.batch_norm(t64(x), None, None, t64(gamma), t64(beta), training=True)
        np.testing.assert_allclose(y, y_ref.numpy(), rtol=0, atol=1e-12)

    @pytest.mark.parametrize("name", ["gamma", "beta"])
    @pytest.mark.parametrize("bad", [np.ones(4), np.ones((1, 3)), np.ones(())])
    def test_param_shape(self, name, bad):
        params = {"gamma": np.ones(3), "beta": np.zeros(3), name: bad}
        with pytest.raises(ValueError, match=rf"{name} must have shape \(3,\)"):
            bn.forward(np.ones((4, 3)), **params)

    @pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.complex128])
    def test_non_float_input(self, dtype):
        with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
            bn.forward(np.ones((4, 3), dtype=dtype), np.ones(3), np.zeros(3))
        with pytest.raises(TypeError, match="gamma must have dtype"):
            bn.forward(np.ones((4, 3)), np.ones(3, dtype=dtype), np.zeros(3))

    @pytest.mark.parametrize("shape", [(0, 3), (4, 0), (4, 3, 0)])
    def test_empty_input(self, shape):
        with pytest.raises(ValueError, match="x must not be empty"):
            bn.forward(np.ones(shape), np.ones(shape[1]), np.zeros(shape[1]))

    def test_not_an_array(self):
        with pytest.raises(TypeError, match="x must be a numpy array"):
            bn.forward("abc", np.ones(3), np.zeros(3))

    def test_ndim_below_two(self):
        with pytest.raises(ValueError, match="x must have at least 2 dimension"):
            bn.forward(np.ones(4), np.ones(4), np.zeros(4))
        with pytest.raises(ValueError, match="x must have at least 2 dimension"):
            bn.batch_stats(np.ones(4))

    @pytest.mark.parametrize("backward", [bn.backward, bn.backward_staged])
    def test_dy_shape_must_match_cache(self, backward):
        _, cache = bn.forward(np.arange(12.0).reshape(4, 3), np.ones(3), np.zeros(3))
        with pytest.raises(ValueError, match=r"dy must have the shape of the cached x \(4, 3\)"):
            backward(np.ones((3, 4)), cache)
        with pytest.raises(TypeError, match="dy must have dtype"):
            backward(np.ones((4, 3), dtype=int), cache)

    def test_negative_eps(self):
        x, gamma, beta, _ = make_batch((4, 3))
        with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
            bn.forward(x, gamma, beta, eps=-1e-5)
        with pytest.raises(ValueError, match="eps must be"):
            bn.inference_affine(np.zeros(3), np.ones(3), gamma, beta, eps=-1.0)

    def test_unknown_convention(self):
        with pytest.raises(ValueError, match="convention must be one of 'torch', 'keras'"):
            bn.update_running(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), 4, 0.1, "tf")

    @pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan")])
    def test_momentum_outside_unit_interval(self, momentum):
        with pytest.raises(ValueError, match="momentum must be"):
            bn.update_running(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), 4, momentum)

    def test_unbiased_update_needs_two_values(self):
        args = np.zeros(2), np.ones(2), np.zeros(2), np.ones(2)
        with pytest.raises(ValueError, match="n must be >= 2"):
            bn.update_running(*args, n=1)
        assert bn.update_running(*args, n=1, unbiased=False)[1].shape == (2,)

    def test_running_stat_shapes(self):
        with pytest.raises(ValueError, match=r"batch_var must have shape \(2,\)"):
            bn.update_running(np.zeros(2), np.ones(2), np.zeros(2), np.ones(3), 4)
        with pytest.raises(ValueError, match=r"running_var must have shape \(3,\)"):
            bn.inference(np.ones((2, 3)), np.zeros(3), np.ones(2), np.ones(3), np.zeros(3))
