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

    @settings(max_examples=40, deadline=None)
    @given(n=st.integers(2, 12), **SCALED_BATCHES)
    def test_matches_torch_over_scales_property(self, n, c, spatial, log_scale, offset, seed):
        shape, scale = (n, c, *spatial), 10.0**log_scale
        rng = np.random.default_rng(seed)
        x = offset + scale * rng.standard_normal(shape)
        gamma, beta = random_params(c, rng)
        dy = rng.standard_normal(shape)
        _, cache = bn.forward(x, gamma, beta)
        _, dx_ref, dgamma_ref, dbeta_ref = torch_forward_backward(x, gamma, beta, dy)
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
        _, dx_ref, dgamma_ref, dbeta_ref = torch_forward_backward(x, gamma, beta, dy)
        dx, dgamma, dbeta = bn.backward(dy, cache)
        assert_close(dx, dx_ref, np.float64)
        assert_close(dgamma, dgamma_ref, np.float64)
        assert_close(dbeta, dbeta_ref, np.float64)


TORCH_BN = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}
TORCH_BN[5] = torch.nn.BatchNorm3d


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


class TestBatchNormLayer:
    @pytest.mark.parametrize("ndim", [2, 3, 4, 5])
    @pytest.mark.parametrize("momentum", [0.1, 0.5, None])
    def test_matches_torch_over_steps(self, ndim, momentum):
        rng = np.random.default_rng(ndim)
        c = 3
        layer = bn.BatchNorm(c, momentum=momentum)
        ref = TORCH_BN[ndim](c, momentum=momentum, dtype=torch.float64)
        gamma, beta = random_params(c, rng)
        layer.gamma, layer.beta = gamma.copy(), beta.copy()
        with torch.no_grad():
            ref.weight.copy_(t64(gamma))
            ref.bias.copy_(t64(beta))
        for step in range(20):
            n = int(rng.integers(2, 6))
            shape = (n, c, *rng.integers(1, 4, ndim - 2))
            x = rng.normal(step / 4, 1 + step / 10, shape)
            layer.train(), ref.train()
            with torch.no_grad():
                y_ref = ref(t64(x)).numpy()
            np.testing.assert_allclose(layer(x), y_ref, rtol=0, atol=RTOL64 * np.abs(y_ref).max())
            np.testing.assert_allclose(layer.running_mean, ref.running_mean.numpy(), rtol=RTOL64)
            np.testing.assert_allclose(layer.running_var, ref.running_var.numpy(), rtol=RTOL64)
            assert layer.num_batches_tracked == ref.num_batches_tracked.item() == step + 1
            layer.eval(), ref.eval()
            x_eval = rng.normal(0, 2, (1, *shape[1:]))
            with torch.no_grad():
                y_ref = ref(t64(x_eval)).numpy()
            np.testing.assert_allclose(layer(x_eval), y_ref, rtol=RTOL64)
            assert layer.num_batches_tracked == ref.num_batches_tracked.item() == step + 1

    def test_default_initial_state_matches_torch(self):
        layer, ref = bn.BatchNorm(4), torch.nn.BatchNorm2d(4, dtype=torch.float64)
        for ours, theirs in [
            (layer.gamma, ref.weight),
            (layer.beta, ref.bias),
            (layer.running_mean, ref.running_mean),
            (layer.running_var, ref.running_var),
        ]:
            np.testing.assert_array_equal(ours, theirs.detach().numpy())
        assert (layer.eps, layer.momentum) == (ref.eps, ref.momentum)
        assert layer.training and layer.num_batches_tracked == 0

    def test_momentum_none_is_cumulative_average(self):
        rng = np.random.default_rng(3)
        layer = bn.BatchNorm(2, momentum=None)
        batches = [rng.normal(i, 1, (5, 2)) for i in range(6)]
        for x in batches:
            layer(x)
        means = np.mean([x.mean(0) for x in batches], axis=0)
        variances = np.mean([x.var(0, ddof=1) for x in batches], axis=0)
        np.testing.assert_allclose(layer.running_mean, means, rtol=RTOL64)
        np.testing.assert_allclose(layer.running_var, variances, rtol=RTOL64)

    def test_keras_convention_over_steps(self):
        # Keras keeps the biased batch variance and weights the old value by momentum.
        rng = np.random.default_rng(4)
        layer = bn.BatchNorm(2, momentum=0.99, convention="keras")
        assert not layer.unbiased_running_var
        mean, var = np.zeros(2), np.ones(2)
        for _ in range(5):
            x = rng.normal(3, 2, (4, 2))
            layer(x)
            mean = 0.99 * mean + 0.01 * x.mean(0)
            var = 0.99 * var + 0.01 * x.var(0)
        np.testing.assert_allclose(layer.running_mean, mean, rtol=RTOL64)
        np.testing.assert_allclose(layer.running_var, var, rtol=RTOL64)

    def test_eval_freezes_statistics_and_ignores_batch(self):
        rng = np.random.default_rng(5)
        layer = bn.BatchNorm(3)
        layer(rng.normal(size=(8, 3)))
        stats = layer.running_mean.copy(), layer.running_var.copy()
        layer.eval()
        x = rng.normal(size=(8, 3))
        y = layer(x)
        np.testing.assert_array_equal(layer.running_mean, stats[0])
        np.testing.assert_array_equal(layer.running_var, stats[1])
        np.testing.assert_allclose(layer(x[:1]), y[:1], rtol=RTOL64)

    @pytest.mark.parametrize("ndim", [2, 4])
    def test_backward_matches_torch_autograd(self, ndim):
        rng = np.random.default_rng(6)
        shape = (4, 3, 2, 3)[:ndim]
        layer, ref = bn.BatchNorm(3), TORCH_BN[ndim](3, dtype=torch.float64)
        x, dy = rng.normal(1, 2, shape), rng.normal(size=shape)
        layer(x)
        xt = t64(x).requires_grad_()
        ref(xt).backward(t64(dy))
        dx = layer.backward(dy)
        assert_close(dx, xt.grad.numpy(), np.float64)
        assert_close(layer.dgamma, ref.weight.grad.numpy(), np.float64)
        assert_close(layer.dbeta, ref.bias.grad.numpy(), np.float64)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_dtype_preserved(self, dtype):
        layer = bn.BatchNorm(2, dtype=dtype)
        x = np.random.default_rng(7).normal(size=(4, 2)).astype(dtype)
        assert layer(x).dtype == dtype and layer.running_var.dtype == dtype
        assert layer.backward(np.ones_like(x)).dtype == dtype
        assert layer.eval()(x).dtype == dtype


class TestInference:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_affine_equals_eval_mode(self, shape):
        rng = np.random.default_rng(8)
        layer = bn.BatchNorm(shape[1])
        layer.gamma, layer.beta = random_params(shape[1], rng)
        for _ in range(3):
            layer(rng.normal(2, 3, shape))
        x = rng.normal(2, 3, shape)
        scale, shift = bn.inference_affine(
            layer.running_mean, layer.running_var, layer.gamma, layer.beta, layer.eps
        )
        y = channel_view(scale, x.ndim) * x + channel_view(shift, x.ndim)
        np.testing.assert_allclose(y, layer.eval()(x), rtol=0, atol=RTOL64 * np.abs(y).max())

    def test_matches_torch_functional_eval(self):
        rng = np.random.default_rng(9)
        x, (gamma, beta) = rng.normal(size=(5, 3, 4)), random_params(3, rng)
        rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, 3)
        y = bn.inference(x, rm, rv, gamma, beta)
        y_ref = F.batch_norm(t64(x), t64(rm), t64(rv), t64(gamma), t64(beta), training=False)
        np.testing.assert_allclose(y, y_ref.numpy(), rtol=RTOL64)


class TestFromTorch:
    @pytest.mark.parametrize(
        ("torch_bn", "shape"),
        [(torch.nn.BatchNorm1d, (7, 3)), (torch.nn.BatchNorm2d, (4, 3, 5, 5))],
    )
    def test_eval_matches_the_trained_torch_layer(self, torch_bn, shape):
        rng = np.random.default_rng(13)
        ref = torch_bn(3, eps=1e-3, dtype=torch.float64)
        with torch.no_grad():
            ref.weight.copy_(t64(rng.uniform(0.5, 2.0, 3)))
            ref.bias.copy_(t64(rng.normal(size=3)))
            for _ in range(4):
                ref(t64(rng.normal(2.0, 3.0, shape)))
        ours = bn.BatchNorm.from_torch(ref.eval())
        assert not ours.training and ours.eps == 1e-3
        x = rng.normal(size=shape)
        with torch.no_grad():
            expected = ref(t64(x)).numpy()
        np.testing.assert_allclose(ours(x), expected, rtol=0, atol=1e-12)

    def test_copies_do_not_follow_the_torch_layer(self):
        ref = torch.nn.BatchNorm1d(2)
        ours = bn.BatchNorm.from_torch(ref)
        with torch.no_grad():
            ref.running_mean.fill_(5.0)
            ref.weight.fill_(3.0)
        assert ours.running_mean.tolist() == [0.0, 0.0] and ours.gamma.tolist() == [1.0, 1.0]


class TestFold:
    def trained_pair(self, c, rng, torch_bn):
        """A bnlab BatchNorm and a torch BatchNorm with the same trained state, in eval mode."""
        layer = bn.BatchNorm(c)
        layer.gamma, layer.beta = random_params(c, rng)
        for _ in range(5):
            layer(rng.normal(1, 2, (6, c)))
        ref = torch_bn(c, dtype=torch.float64).eval()
        with torch.no_grad():
            for name, value in [
                ("weight", layer.gamma),
                ("bias", layer.beta),
                ("running_mean", layer.running_mean),
                ("running_var", layer.running_var),
            ]:
                getattr(ref, name).copy_(t64(value))
        return layer.eval(), ref

    @pytest.mark.parametrize(
        ("make_layer", "torch_bn", "x_shape", "apply"),
        [
            (lambda b: torch.nn.Linear(6, 4, bias=b), torch.nn.BatchNorm1d, (8, 6), F.linear),
            (
                lambda b: torch.nn.Conv2d(3, 4, 3, bias=b),
                torch.nn.BatchNorm2d,
                (2, 3, 6, 6),
                F.conv2d,
            ),
        ],
        ids=["linear", "conv2d"],
    )
    @pytest.mark.parametrize("bias", [True, False])
    def test_matches_torch_layer_then_bn(self, make_layer, torch_bn, x_shape, apply, bias):
        rng = np.random.default_rng(11)
        layer, ref_bn = self.trained_pair(4, rng, torch_bn)
        lin = make_layer(bias).to(torch.float64)
        W = lin.weight.detach().numpy()
        b = lin.bias.detach().numpy() if bias else None
        W_f, b_f = bn.fold_into_linear(W, b, layer)
        assert W_f.shape == W.shape and b_f.shape == (4,)
        x = t64(rng.normal(size=x_shape))
        with torch.no_grad():
            expected = ref_bn(lin(x)).numpy()
            folded = apply(x, t64(W_f), t64(b_f)).numpy()
            ours = layer(lin(x).numpy())
        np.testing.assert_allclose(folded, expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)

    def test_linear_matmul_identity(self):
        rng = np.random.default_rng(12)
        layer, _ = self.trained_pair(4, rng, torch.nn.BatchNorm1d)
        W, b, x = rng.normal(size=(4, 6)), rng.normal(size=4), rng.normal(size=(8, 6))
        W_f, b_f = bn.fold_into_linear(W, b, layer)
        np.testing.assert_allclose(x @ W_f.T + b_f, layer(x @ W.T + b), rtol=0, atol=1e-12)
        scale = layer.gamma / np.sqrt(layer.running_var + layer.eps)
        np.testing.assert_allclose(b_f, (b - layer.running_mean) * scale + layer.beta, rtol=RTOL64)


class TestBadInput:
    @pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
    def test_one_value_per_channel_in_training(self, shape):
        x, gamma, beta = np.ones(shape), np.ones(3), np.zeros(3)
        with pytest.raises(ValueError, match="x must have at least 2 values per channel"):
            bn.forward(x, gamma, beta)
        with pytest.raises(ValueError, match="at least 2 values per channel"):
            bn.BatchNorm(3)(x)
        with pytest.raises(ValueError):  # torch refuses too
            F.batch_norm(t64(x), None, None, training=True)
        assert bn.BatchNorm(3).eval()(x).shape == shape

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
        with pytest.raises(TypeError, match="x must have dtype"):
            bn.BatchNorm(3)(np.ones((4, 3), dtype=dtype))

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
        with pytest.raises(ValueError, match="x must have at least 2 dimension"):
            bn.BatchNorm(4).eval()(np.ones(4))

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
        with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
            bn.BatchNorm(3, eps=-1.0)
        with pytest.raises(ValueError, match="eps must be"):
            bn.inference_affine(np.zeros(3), np.ones(3), gamma, beta, eps=-1.0)

    def test_unknown_convention(self):
        with pytest.raises(ValueError, match="convention must be one of 'torch', 'keras'"):
            bn.update_running(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), 4, 0.1, "tf")
        with pytest.raises(ValueError, match="convention must be one of"):
            bn.BatchNorm(2, convention="Torch")

    @pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan")])
    def test_momentum_outside_unit_interval(self, momentum):
        with pytest.raises(ValueError, match="momentum must be"):
            bn.update_running(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), 4, momentum)
        with pytest.raises(ValueError, match="momentum must be"):
            bn.BatchNorm(2, momentum=momentum)

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

    def test_layer_backward_only_in_training_mode(self):
        layer = bn.BatchNorm(3)
        with pytest.raises(RuntimeError, match="needs a training-mode forward pass first"):
            layer.backward(np.ones((4, 3)))
        layer(np.arange(12.0).reshape(4, 3))
        layer.eval()
        with pytest.raises(RuntimeError, match="BatchNorm.backward needs training mode"):
            layer.backward(np.ones((4, 3)))

    def test_layer_arguments(self):
        with pytest.raises(ValueError, match="x must have num_features=3 entries on axis 1"):
            bn.BatchNorm(3)(np.ones((4, 2)))
        with pytest.raises(ValueError, match="num_features must be >= 1"):
            bn.BatchNorm(0)
        with pytest.raises(TypeError, match="dtype must be float32 or float64"):
            bn.BatchNorm(3, dtype=np.int32)

    def test_fold_arguments(self):
        layer = bn.BatchNorm(3).eval()
        with pytest.raises(ValueError, match="W must have bn.num_features=3 rows"):
            bn.fold_into_linear(np.ones((4, 3)), None, layer)
        with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
            bn.fold_into_linear(np.ones((3, 5)), np.ones(5), layer)
        with pytest.raises(TypeError, match="bn must be a bnlab.batchnorm.BatchNorm"):
            bn.fold_into_linear(np.ones((3, 5)), None, torch.nn.BatchNorm1d(3))
