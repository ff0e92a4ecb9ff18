"""bnlab.training: the seeded SGD loop and evaluate, on small problems with known answers."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bnlab.diagnostics import gradient_norms
from bnlab.models import make_mlp
from bnlab.training import evaluate, train

pytestmark = pytest.mark.usefixtures("one_thread")


def np_cross_entropy(logits, y):
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


class TestEvaluate:
    def test_matches_numpy(self, blobs):
        X, y = blobs()
        net = make_mlp(5, 3, width=8, depth=2, norm="bn").double()
        net(X.double())  # updates running statistics so eval mode differs from identity
        loss, acc = evaluate(net, X.double(), y)
        net.eval()
        logits = net(X.double()).detach().numpy()
        np.testing.assert_allclose(loss, np_cross_entropy(logits, y.numpy()), rtol=1e-12)
        assert acc == pytest.approx(np.mean(logits.argmax(1) == y.numpy()))

    @pytest.mark.parametrize("mode", [True, False])
    def test_restores_mode(self, blobs, mode):
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
    def test_learns(self, blobs):
        X, y = blobs()
        hist = train(make_mlp(5, 3, width=16, depth=2), X, y, X, y, steps=60, batch_size=20)
        assert not hist.diverged and hist.final_acc > 0.95
        assert hist.steps_to(0.95) is not None and hist.steps_to(1.01) is None
        assert hist.eval_step.tolist() == [0, 50, 60]

    def test_reproducible(self, blobs):
        X, y = blobs()
        runs = [
            train(make_mlp(5, 3, depth=2, norm="noisy_bn"), X, y, X, y, steps=20, seed=s)
            for s in (0, 0, 1)
        ]
        np.testing.assert_array_equal(runs[0].loss, runs[1].loss)
        assert not np.array_equal(runs[0].loss, runs[2].loss)

    def test_each_epoch_sees_every_sample_once(self, blobs):
        X, y = blobs(n=100)
        X[:, 0] = torch.arange(100.0)
        rec = Recorder()
        net = nn.Sequential(rec, nn.Linear(5, 3))
        train(net, X, y, X, y, steps=6, batch_size=30, lr=0.0)
        epochs = [torch.cat(rec.seen[:3]), torch.cat(rec.seen[3:])]
        for seen in epochs:  # 100 // 30 = 3 batches per epoch, the last 10 samples dropped
            assert seen.unique().numel() == 90
        assert not torch.equal(epochs[0], epochs[1])

    def test_full_batch_step_is_gradient_descent(self, blobs):
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

    def test_diverges_and_stops(self, blobs):
        X, y = blobs()
        hist = train(make_mlp(5, 3, depth=4, init_scale=3.0), X, y, X, y, steps=200, lr=1e4)
        assert hist.diverged and len(hist.loss) < 200
        assert np.isnan(hist.final_acc)

    def test_callback_sees_gradients(self, blobs):
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

    def test_batch_too_large(self, blobs):
        X, y = blobs(n=30)
        with pytest.raises(ValueError, match="batch_size must be <= len"):
            train(make_mlp(5, 3), X, y, X, y, batch_size=31)
