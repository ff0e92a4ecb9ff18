"""bnlab.diagnostics: batch statistics, recorded activations, saturation, gradient norms and the
loss landscape along the gradient, each against a computation of its own."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bnlab import batchnorm
from bnlab.diagnostics import (
    batch_statistics,
    gradient_norms,
    landscape_along_gradient,
    record_activations,
    saturation,
)
from bnlab.models import make_mlp

pytestmark = pytest.mark.usefixtures("one_thread")


def x_hat(x):
    """BN of (N, D) x with gamma 1, beta 0, eps 1e-5, by bnlab's numpy kernel (tested on torch)."""
    return batchnorm.forward(x, np.ones(x.shape[1]), np.zeros(x.shape[1]))[0]


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

    def test_record_activations_matches_numpy(self, blobs):
        X, _ = blobs()
        net = make_mlp(5, 3, width=8, depth=2, norm="bn", activation="tanh").double()
        zs = record_activations(net, X.double())
        w0, w1 = net[0].weight.detach().numpy(), net[3].weight.detach().numpy()
        z0 = x_hat(X.double().numpy() @ w0.T)
        z1 = x_hat(np.tanh(z0) @ w1.T)
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

    def test_gradient_norms_match_autograd(self, blobs):
        X, y = blobs()
        net = make_mlp(5, 3, width=8, depth=3)
        loss = F.cross_entropy(net(X), y)
        weights = [m.weight for m in net if isinstance(m, nn.Linear)]
        expected = [g.norm().item() for g in torch.autograd.grad(loss, weights, retain_graph=True)]
        loss.backward()
        np.testing.assert_allclose(gradient_norms(net), expected, rtol=1e-6)


class TestLandscape:
    def test_losses_and_model_untouched(self, blobs):
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

    def test_small_step_beta_is_hessian_along_gradient(self, blobs):
        # for a tiny step, ||grad(theta - eta g) - g|| / ||eta g|| -> ||H g|| / ||g||
        X, y = blobs()
        X = X.double()
        gen = torch.Generator().manual_seed(2)
        net = nn.Linear(5, 3).double()
        with torch.no_grad():
            net.weight.copy_(torch.randn(3, 5, generator=gen, dtype=torch.float64))
            net.bias.copy_(torch.randn(3, generator=gen, dtype=torch.float64))
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
