"""bnlab.layer.BatchNorm against torch's BatchNorm1d/2d/3d in float64, step after step."""

import numpy as np
import pytest
import torch

from bnlab.layer import BatchNorm

DTYPES = [np.float32, np.float64]
RTOL64 = 1e-12
TORCH_BN = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}
TORCH_BN[5] = torch.nn.BatchNorm3d


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def random_params(c, rng):
    return rng.uniform(0.5, 2, c), rng.normal(0, 1, c)


def assert_close(actual, expected):
    """Agreement to 1e-12 relative to the largest entry of the expected array."""
    scale = max(1.0, np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=RTOL64 * scale)


class TestBatchNormLayer:
    @pytest.mark.parametrize("ndim", [2, 3, 4, 5])
    @pytest.mark.parametrize("momentum", [0.1, 0.5, None])
    def test_matches_torch_over_steps(self, ndim, momentum):
        rng = np.random.default_rng(ndim)
        c = 3
        layer = BatchNorm(c, momentum=momentum)
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
        layer, ref = BatchNorm(4), torch.nn.BatchNorm2d(4, dtype=torch.float64)
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
        layer = BatchNorm(2, momentum=None)
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
        layer = BatchNorm(2, momentum=0.99, convention="keras")
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
        layer = BatchNorm(3)
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
        layer, ref = BatchNorm(3), TORCH_BN[ndim](3, dtype=torch.float64)
        x, dy = rng.normal(1, 2, shape), rng.normal(size=shape)
        layer(x)
        xt = t64(x).requires_grad_()
        ref(xt).backward(t64(dy))
        dx = layer.backward(dy)
        assert_close(dx, xt.grad.numpy())
        assert_close(layer.dgamma, ref.weight.grad.numpy())
        assert_close(layer.dbeta, ref.bias.grad.numpy())

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_dtype_preserved(self, dtype):
        layer = BatchNorm(2, dtype=dtype)
        x = np.random.default_rng(7).normal(size=(4, 2)).astype(dtype)
        assert layer(x).dtype == dtype and layer.running_var.dtype == dtype
        assert layer.backward(np.ones_like(x)).dtype == dtype
        assert layer.eval()(x).dtype == dtype


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
        ours = BatchNorm.from_torch(ref.eval())
        assert not ours.training and ours.eps == 1e-3
        x = rng.normal(size=shape)
        with torch.no_grad():
            expected = ref(t64(x)).numpy()
        np.testing.assert_allclose(ours(x), expected, rtol=0, atol=1e-12)

    def test_copies_do_not_follow_the_torch_layer(self):
        ref = torch.nn.BatchNorm1d(2)
        ours = BatchNorm.from_torch(ref)
        with torch.no_grad():
            ref.running_mean.fill_(5.0)
            ref.weight.fill_(3.0)
        assert ours.running_mean.tolist() == [0.0, 0.0] and ours.gamma.tolist() == [1.0, 1.0]


class TestBadInput:
    @pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
    def test_one_value_per_channel_in_training(self, shape):
        x = np.ones(shape)
        with pytest.raises(ValueError, match="x must have at least 2 values per channel"):
            BatchNorm(3)(x)
        assert BatchNorm(3).eval()(x).shape == shape

    @pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.complex128])
    def test_non_float_input(self, dtype):
        with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
            BatchNorm(3)(np.ones((4, 3), dtype=dtype))

    def test_ndim_below_two(self):
        with pytest.raises(ValueError, match="x must have at least 2 dimension"):
            BatchNorm(4).eval()(np.ones(4))

    def test_wrong_number_of_features(self):
        with pytest.raises(ValueError, match="x must have num_features=3 entries on axis 1"):
            BatchNorm(3)(np.ones((4, 2)))

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"num_features": 0}, ValueError, "num_features must be >= 1"),
            ({"eps": -1.0}, ValueError, "eps must be a finite number >= 0"),
            ({"momentum": -0.1}, ValueError, "momentum must be"),
            ({"momentum": 1.5}, ValueError, "momentum must be"),
            ({"momentum": float("nan")}, ValueError, "momentum must be"),
            ({"convention": "Torch"}, ValueError, "convention must be one of 'torch', 'keras'"),
            ({"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
        ],
    )
    def test_arguments(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            BatchNorm(**{"num_features": 3, **kwargs})

    def test_backward_only_in_training_mode(self):
        layer = BatchNorm(3)
        with pytest.raises(RuntimeError, match="needs a training-mode forward pass first"):
            layer.backward(np.ones((4, 3)))
        layer(np.arange(12.0).reshape(4, 3))
        layer.eval()
        with pytest.raises(RuntimeError, match="BatchNorm.backward needs training mode"):
            layer.backward(np.ones((4, 3)))
