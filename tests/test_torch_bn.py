"""bnlab.torch_bn.TorchBN against torch's own BatchNorm modules and their autograd."""

import numpy as np
import pytest
import torch

from bnlab.torch_bn import TorchBN

MODULES = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}


def batch(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x, dy = rng.normal(2, 3, shape).astype(dtype), rng.normal(size=shape).astype(dtype)
    return x, rng.uniform(0.5, 2, c).astype(dtype), rng.normal(size=c).astype(dtype), dy


def module_forward_backward(x, gamma, beta, dy, eps):
    """The module form in training mode, its weights set, its gradients by ``.backward``."""
    layer = MODULES[x.ndim](x.shape[1], eps=eps, dtype=torch.from_numpy(x).dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    xt = torch.from_numpy(x.copy()).requires_grad_()
    y = layer(xt)
    y.backward(torch.from_numpy(dy))
    return y.detach().numpy(), xt.grad.numpy(), layer.weight.grad.numpy(), layer.bias.grad.numpy()


class TestTorchBN:
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4)])
    def test_matches_the_module(self, shape, dtype):
        x, gamma, beta, dy = batch(shape, dtype)
        ref = TorchBN(x, gamma, beta, eps=1e-3)
        y, dx, dgamma, dbeta = module_forward_backward(x, gamma, beta, dy, eps=1e-3)
        atol = 64 * np.finfo(dtype).eps
        for got, want in zip((ref.y, *ref.backward(dy)), (y, dx, dgamma, dbeta), strict=True):
            assert got.dtype == dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=0, atol=atol * max(1, np.abs(want).max()))
        np.testing.assert_array_equal(ref.forward(), ref.y)

    def test_backward_repeats_and_inputs_are_copied(self):
        x, gamma, beta, dy = batch((6, 2), np.float64)
        ref = TorchBN(x, gamma, beta)
        first = ref.backward(dy)
        x[:] = 0.0
        for a, b in zip(first, ref.backward(dy), strict=True):
            np.testing.assert_array_equal(a, b)
        assert np.abs(ref.forward()).max() > 0

    def test_refuses_one_value_per_channel(self):
        with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
            TorchBN(np.ones((1, 3)), np.ones(3), np.zeros(3))
