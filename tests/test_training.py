"""Tests for bnlab.training: the torch helpers behind the experiments of chapter 8."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bnlab.diagnostics import (
    batch_statistics,
    gradient_norms,
    landscape_along_gradient,
    record_activations,
    saturation,
)
from bnlab.models import NoisyBatchNorm1d, make_mlp
from bnlab.training import evaluate, train


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny nets run fastest on one thread; two threads on a busy shared CPU spin for seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def blobs(n=120, d=5, k=3, seed=0):
    """Three well separated Gaussian blobs: a problem any of these nets learns in a few steps."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    centers = 3 * torch.eye(k, d)
    return centers[y] + 0.5 * torch.randn(n, d, generator=gen), y


def np_batch_norm(x, eps=1e-5):
    mu = x.mean(0)
    var = ((x - mu) ** 2).mean(0)
    return (x - mu) / np.sqrt(var + eps)


def np_cross_entropy(logits, y):
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


class TestMakeMlp:
    @pytest.mark.parametrize(
        ("norm", "kind"),
        [
            (None, None),
            ("bn", nn.BatchNorm1d),
            ("noisy_bn", NoisyBatchNorm1d),
            ("ln", nn.LayerNorm),
            ("gn", nn.GroupNorm),
        ],
    )
    @pytest.mark.parametrize("depth", [1, 4])
    def test_structure(self, norm, kind, depth):
        net = make_mlp(7, 3, width=16, depth=depth, norm=norm, num_groups=4)
        linears = [m for m in net if isinstance(m, nn.Linear)]
        assert len(linears) == depth + 1
        assert isinstance(net[-1], nn.Linear) and net[-1].out_features == 3
        norms = [m for m in net if kind is not None and isinstance(m, kind)]
        assert len(norms) == (0 if norm is None else depth)
        has_bias = [lin.bias is not None for lin in linears[:-1]]
        assert has_bias == [norm not in ("bn", "noisy_bn")] * depth
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
        torch.testing.assert_close(net[2](z), F.batch_norm(z, None, None, training=True)
                                   if norm == "bn" else F.layer_norm(z, (16,)))

    def test_placement_keeps_the_weights(self):
        # the same seed draws the same weights whichever side of the activation the norm is on
        before, after = (make_mlp(8, 2, depth=3, norm="bn", seed=5, placement=p)
                         for p in ("before", "after"))
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
        expected = np_batch_norm(x.numpy())
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
        y = torch.from_numpy(np_batch_norm(x.numpy()))
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
        noise = layer(x).detach() - torch.from_numpy(np_batch_norm(x.numpy()))
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


class TestEvaluate:
    def test_matches_numpy(self):
        X, y = blobs()
        net = make_mlp(5, 3, width=8, depth=2, norm="bn").double()
        net(X.double())  # updates running statistics so eval mode differs from identity
        loss, acc = evaluate(net, X.double(), y)
        net.eval()
        logits = net(X.double()).detach().numpy()
        np.testing.assert_allclose(loss, np_cross_entropy(logits, y.numpy()), rtol=1e-12)
        assert acc == pytest.approx(np.mean(logits.argmax(1) == y.numpy()))

    @pytest.mark.parametrize("mode", [True, False])
    def test_restores_mode(self, mode):
        net = make_mlp(5, 3, width=8, depth=1, norm="bn").train(mode)
        evaluate(net, *blobs())
        assert net.training is mode


class Recorder(nn.Module):
    """Passes its input through and remembers it, to see which samples a step used."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x[:, 0].detach().clone())
        return x


class TestTrain:
    def test_learns(self):
        X, y = blobs()
        hist = train(make_mlp(5, 3, width=16, depth=2), X, y, X, y, steps=60, batch_size=20)
        assert not hist.diverged and hist.final_acc > 0.95
        assert hist.steps_to(0.95) is not None and hist.steps_to(1.01) is None
        assert hist.eval_step.tolist() == [0, 50, 60]

    def test_reproducible(self):
        X, y = blobs()
        runs = [
            train(make_mlp(5, 3, depth=2, norm="noisy_bn"), X, y, X, y, steps=20, seed=s)
            for s in (0, 0, 1)
        ]
        np.testing.assert_array_equal(runs[0].loss, runs[1].loss)
        assert not np.array_equal(runs[0].loss, runs[2].loss)

    def test_each_epoch_sees_every_sample_once(self):
        X, y = blobs(n=100)
        X[:, 0] = torch.arange(100.0)
        rec = Recorder()
        net = nn.Sequential(rec, nn.Linear(5, 3))
        train(net, X, y, X, y, steps=6, batch_size=30, lr=0.0)
        epochs = [torch.cat(rec.seen[:3]), torch.cat(rec.seen[3:])]
        for seen in epochs:  # 100 // 30 = 3 batches per epoch, the last 10 samples dropped
            assert seen.unique().numel() == 90
        assert not torch.equal(epochs[0], epochs[1])

    def test_full_batch_step_is_gradient_descent(self):
        X, y = blobs()
        X = X.double()
        net = make_mlp(5, 3, width=8, depth=2).double()
        before = [p.detach().clone() for p in net.parameters()]
        params = [p.detach().clone().requires_grad_() for p in net.parameters()]

        def loss_of(*ps):
            h = X
            for i in range(0, len(ps) - 2, 2):
                h = torch.relu(h @ ps[i].T + ps[i + 1])
            return F.cross_entropy(h @ ps[-2].T + ps[-1], y)

        grads = torch.autograd.grad(loss_of(*params), params)
        train(net, X, y, X, y, steps=1, batch_size=len(X), lr=0.3)
        for p, p0, g in zip(net.parameters(), before, grads, strict=True):
            torch.testing.assert_close(p.detach(), p0 - 0.3 * g, rtol=1e-12, atol=1e-12)

    def test_diverges_and_stops(self):
        X, y = blobs()
        hist = train(make_mlp(5, 3, depth=4, init_scale=3.0), X, y, X, y, steps=200, lr=1e4)
        assert hist.diverged and len(hist.loss) < 200
        assert np.isnan(hist.final_acc)

    def test_callback_sees_gradients(self):
        X, y = blobs()
        norms = []
        train(
            make_mlp(5, 3, depth=3),
            X,
            y,
            X,
            y,
            steps=5,
            callback=lambda s, m: norms.append(gradient_norms(m)),
        )
        assert np.array(norms).shape == (5, 4) and np.all(np.array(norms) > 0)

    def test_batch_too_large(self):
        X, y = blobs(n=30)
        with pytest.raises(ValueError, match="batch_size must be <= len"):
            train(make_mlp(5, 3), X, y, X, y, batch_size=31)


class TestDiagnostics:
    def test_batch_statistics_restores_state(self):
        net = make_mlp(5, 3, depth=2, norm="bn").eval()
        state = {k: v.clone() for k, v in net.state_dict().items()}
        with pytest.raises(RuntimeError, match="boom"), batch_statistics(net):
            assert net.training
            net(torch.randn(30, 5, generator=torch.Generator().manual_seed(0)) + 4)
            raise RuntimeError("boom")
        assert not net.training
        for k, v in net.state_dict().items():
            assert torch.equal(v, state[k])

    def test_record_activations_matches_numpy(self):
        X, _ = blobs()
        net = make_mlp(5, 3, width=8, depth=2, norm="bn", activation="tanh").double()
        zs = record_activations(net, X.double())
        w0, w1 = net[0].weight.detach().numpy(), net[3].weight.detach().numpy()
        z0 = np_batch_norm(X.double().numpy() @ w0.T)
        z1 = np_batch_norm(np.tanh(z0) @ w1.T)
        np.testing.assert_allclose(zs[0].numpy(), z0, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(zs[1].numpy(), z1, rtol=1e-10, atol=1e-12)

    @pytest.mark.parametrize(
        ("activation", "edge"),
        [("sigmoid", 2 * np.arccosh(np.sqrt(1 / 0.1))), ("tanh", np.arctanh(np.sqrt(0.9)))],
    )
    def test_saturation_threshold(self, activation, edge):
        # slope / max slope = 0.1 exactly at |z| = edge (sigmoid: 1/cosh^2(z/2) = 0.1)
        z = torch.tensor([-edge - 1e-3, -edge + 1e-3, 0.0, edge - 1e-3, edge + 1e-3])
        assert saturation(z.double(), activation) == pytest.approx(2 / 5)

    def test_saturation_relu(self):
        z = torch.tensor([-2.0, 0.0, 0.5, 3.0])
        assert saturation(z, "relu") == 0.5
        with pytest.raises(ValueError, match="activation must be one of"):
            saturation(z, "elu")

    def test_gradient_norms_match_autograd(self):
        X, y = blobs()
        net = make_mlp(5, 3, width=8, depth=3)
        loss = F.cross_entropy(net(X), y)
        weights = [m.weight for m in net if isinstance(m, nn.Linear)]
        expected = [g.norm().item() for g in torch.autograd.grad(loss, weights, retain_graph=True)]
        loss.backward()
        np.testing.assert_allclose(gradient_norms(net), expected, rtol=1e-6)


class TestLandscape:
    def test_losses_and_model_untouched(self):
        X, y = blobs()
        X = X.double()
        net = make_mlp(5, 3, width=8, depth=2, norm="bn").double()
        state = {k: v.clone() for k, v in net.state_dict().items()}
        etas = [0.1, 1.0]
        out = landscape_along_gradient(net, X, y, etas)
        for k, v in net.state_dict().items():
            assert torch.equal(v, state[k])
        params = list(net.parameters())
        g = torch.autograd.grad(F.cross_entropy(net.train()(X), y), params)
        for eta, loss in zip(etas, out["loss"], strict=True):
            moved = make_mlp(5, 3, width=8, depth=2, norm="bn").double()
            with torch.no_grad():
                for q, p, gp in zip(moved.parameters(), params, g, strict=True):
                    q.copy_(p - eta * gp)
            assert loss == pytest.approx(F.cross_entropy(moved(X), y).item(), rel=1e-10)
        assert out["grad_norm"] == pytest.approx(torch.cat([t.flatten() for t in g]).norm().item())

    def test_small_step_beta_is_hessian_along_gradient(self):
        # for a tiny step, ||grad(theta - eta g) - g|| / ||eta g|| -> ||H g|| / ||g||
        X, y = blobs()
        X = X.double()
        net = nn.Linear(5, 3).double()
        w, b = net.weight.detach(), net.bias.detach()

        def loss_of(w, b):
            return F.cross_entropy(X @ w.T + b, y)

        g = torch.autograd.grad(loss_of(w.requires_grad_(), b.requires_grad_()), (w, b))
        _, hg = torch.autograd.functional.hvp(loss_of, (w.detach(), b.detach()), g)
        ratio = (
            torch.cat([t.flatten() for t in hg]).norm() / torch.cat([t.flatten() for t in g]).norm()
        )
        out = landscape_along_gradient(net, X, y, [1e-5])
        assert out["beta"] == pytest.approx(ratio.item(), rel=1e-3)
