"""bnlab.folding against torch: the folded layer equals the layer followed by BN in eval mode."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bnlab.folding import fold_into_linear
from bnlab.layer import BatchNorm

RTOL64 = 1e-12


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


class TestFold:
    def trained_pair(self, c, rng, torch_bn):
        """A bnlab BatchNorm and a torch BatchNorm with the same trained state, in eval mode."""
        layer = BatchNorm(c)
        layer.gamma, layer.beta = rng.uniform(0.5, 2, c), rng.normal(0, 1, c)
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
        W_f, b_f = fold_into_linear(W, b, layer)
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
        W_f, b_f = fold_into_linear(W, b, layer)
        np.testing.assert_allclose(x @ W_f.T + b_f, layer(x @ W.T + b), rtol=0, atol=1e-12)
        scale = layer.gamma / np.sqrt(layer.running_var + layer.eps)
        np.testing.assert_allclose(b_f, (b - layer.running_mean) * scale + layer.beta, rtol=RTOL64)

    def test_arguments(self):
        layer = BatchNorm(3).eval()
        with pytest.raises(ValueError, match="W must have bn.num_features=3 rows"):
            fold_into_linear(np.ones((4, 3)), None, layer)
        with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
            fold_into_linear(np.ones((3, 5)), np.ones(5), layer)
        with pytest.raises(TypeError, match="bn must be a bnlab.layer.BatchNorm"):
            fold_into_linear(np.ones((3, 5)), None, torch.nn.BatchNorm1d(3))
