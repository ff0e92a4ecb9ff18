"""bnlab.models: make_mlp's blocks, init and seeding; NoisyBatchNorm1d's noise."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bnlab import batchnorm
from bnlab.diagnostics import record_activations
from bnlab.models import NoisyBatchNorm1d, make_mlp

pytestmark = pytest.mark.usefixtures("one_thread")


def x_hat(x):
    """BN of (N, D) x with gamma 1, beta 0, eps 1e-5, by bnlab's numpy kernel (tested on torch)."""
    return batchnorm.forward(x, np.ones(x.shape[1]), np.zeros(x.shape[1]))[0]


class TestMakeMlp:
    @pytest.mark.parametrize(
        ("norm", "kind", "hidden_bias"),
        [
            (None, None, True),
            ("bn", nn.BatchNorm1d, False),  # BN subtracts the batch mean: a bias would cancel
            ("noisy_bn", NoisyBatchNorm1d, False),
            ("ln", nn.LayerNorm, True),
            ("gn", nn.GroupNorm, True),
        ],
    )
    @pytest.mark.parametrize("depth", [1, 4])
    def test_structure(self, norm, kind, hidden_bias, depth):
        net = make_mlp(7, 3, width=16, depth=depth, norm=norm, num_groups=4)
        block = [nn.Linear, nn.ReLU] if kind is None else [nn.Linear, kind, nn.ReLU]
        assert [type(m) for m in net] == block * depth + [nn.Linear]
        assert net[-1].out_features == 3
        has_bias = [m.bias is not None for m in net if isinstance(m, nn.Linear)]
        assert has_bias == [hidden_bias] * depth + [True]
        x = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
        assert net(x).shape == (5, 3)

    @pytest.mark.parametrize(
        ("activation", "gain"), [("relu", np.sqrt(2)), ("tanh", 5 / 3), ("sigmoid", 1.0)]
    )
    @pytest.mark.parametrize("init_scale", [0.1, 1.0, 10.0])
    def test_init_std(self, activation, gain, init_scale):
        net = make_mlp(256, 10, width=256, depth=2, activation=activation, init_scale=init_scale)
        w_hidden, w_head = net[2].weight.detach().numpy(), net[-1].weight.detach().numpy()
        # the std of 65536 Gaussian draws is within a few parts per thousand of the truth
        np.testing.assert_allclose(w_hidden.std(), init_scale * gain / 16, rtol=0.02)
        np.testing.assert_allclose(w_head.std(), init_scale / 16, rtol=0.1)
        assert abs(w_hidden.mean()) < 0.05 * w_hidden.std()

    @pytest.mark.parametrize("norm", ["bn", "ln"])
    def test_norm_after_activation(self, norm):
        net = make_mlp(7, 3, width=16, depth=2, norm=norm, placement="after")
        kinds = [type(m) for m in net]
        norm_kind = nn.BatchNorm1d if norm == "bn" else nn.LayerNorm
        assert kinds == [nn.Linear, nn.ReLU, norm_kind] * 2 + [nn.Linear]
        assert all(m.bias is not None for m in net if isinstance(m, nn.Linear))
        x = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
        z = net[1](net[0](x))
        torch.testing.assert_close(
            net[2](z),
            F.batch_norm(z, None, None, training=True) if norm == "bn" else F.layer_norm(z, (16,)),
        )

    def test_placement_keeps_the_weights(self):
        # the same seed draws the same weights whichever side of the activation the norm is on
        before, after = (
            make_mlp(8, 2, depth=3, norm="bn", seed=5, placement=p) for p in ("before", "after")
        )
        w_before = [m.weight for m in before if isinstance(m, nn.Linear)]
        w_after = [m.weight for m in after if isinstance(m, nn.Linear)]
        for wb, wa in zip(w_before, w_after, strict=True):
            assert torch.equal(wb, wa)

    def test_seeded(self):
        a, b, c = (make_mlp(8, 2, depth=2, seed=s) for s in (3, 3, 4))
        for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
            assert torch.equal(pa, pb)
            if pa.dim() == 2:
                assert not torch.equal(pa, pc)

    def test_bn_removes_hidden_weight_scale(self):
        # BN(a W x) = BN(W x) up to eps: a relative error of about eps / (2 var) = 5e-6 here
        X = torch.randn(64, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        nets = [make_mlp(8, 2, depth=3, norm="bn", init_scale=a).double() for a in (1.0, 100.0)]
        small, large = (record_activations(net, X) for net in nets)
        for zs, zl in zip(small, large, strict=True):
            torch.testing.assert_close(zs, zl, rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"norm": "batch"}, "norm must be one of"),
            ({"activation": "gelu"}, "activation must be one of"),
            ({"init_scale": 0.0}, "init_scale must be > 0"),
            ({"norm": "gn", "num_groups": 5}, "num_groups must divide width"),
            ({"norm": "bn", "placement": "between"}, "placement must be one of"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            make_mlp(4, 2, width=16, **kwargs)


class TestNoisyBatchNorm:
    def test_without_noise_is_batch_norm(self):
        x = torch.randn(20, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        noisy = NoisyBatchNorm1d(6, shift=0.0, scale=1.0).double()
        expected = x_hat(x.numpy())
        np.testing.assert_allclose(noisy(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)

    def test_eval_mode_has_no_noise(self):
        torch.manual_seed(0)  # the inputs, and the noise of the one training step
        x = torch.randn(20, 6)
        noisy, plain = NoisyBatchNorm1d(6, noise_std=1.0), nn.BatchNorm1d(6)
        noisy(x), plain(x)  # one training step updates the running statistics of both
        torch.testing.assert_close(noisy.eval()(x), plain.eval()(x))

    def test_shift_and_scale_redrawn_every_step(self):
        torch.manual_seed(0)
        x = torch.randn(50, 5, dtype=torch.float64)
        y = torch.from_numpy(x_hat(x.numpy()))
        layer = NoisyBatchNorm1d(5, shift=2.0, scale=3.0).double()
        scales, shifts = [], []
        for _ in range(200):
            out = layer(x).detach()
            # out = a * y + m exactly: recover a and m from two samples of the batch
            a = (out[1] - out[0]) / (y[1] - y[0])
            torch.testing.assert_close(out, a * y + (out[0] - a * y[0]))
            scales.append(a)
            shifts.append(out[0] - a * y[0])
        scales, shifts = torch.stack(scales), torch.stack(shifts)
        assert 1 / 3 <= scales.min() and scales.max() <= 3
        assert shifts.abs().max() <= 2
        # log-uniform on [1/3, 3] and uniform on [-2, 2]: both cover most of their range
        assert scales.min() < 0.4 and scales.max() > 2.5
        assert shifts.min() < -1.8 and shifts.max() > 1.8
        assert shifts.std(0).min() > 0.9  # U(-2, 2) has std 2 / sqrt(3) = 1.15

    def test_per_sample_noise(self):
        torch.manual_seed(0)
        x = torch.randn(20000, 3, dtype=torch.float64)
        layer = NoisyBatchNorm1d(3, shift=0.0, scale=1.0, noise_std=0.5).double()
        noise = layer(x).detach() - torch.from_numpy(x_hat(x.numpy()))
        np.testing.assert_allclose(noise.std(0).numpy(), 0.5, rtol=0.03)
        np.testing.assert_allclose(noise.mean(0).numpy(), 0.0, atol=0.02)

    @pytest.mark.parametrize(
        "kwargs", [{"shift": -1.0}, {"scale": 0.5}, {"noise_std": -0.1}], ids=str
    )
    def test_bad_noise(self, kwargs):
        with pytest.raises(ValueError, match="need shift >= 0, scale >= 1 and noise_std >= 0"):
            NoisyBatchNorm1d(3, **kwargs)

    def test_make_mlp_passes_norm_kwargs(self):
        net = make_mlp(4, 2, depth=2, norm="noisy_bn", norm_kwargs={"shift": 0.3, "scale": 2.0})
        layers = [m for m in net if isinstance(m, NoisyBatchNorm1d)]
        assert [(m.shift, m.scale) for m in layers] == [(0.3, 2.0)] * 2
