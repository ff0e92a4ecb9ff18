"""bnlab.training: the seeded SGD loop and evaluate, on small problems with known answers."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bnlab.diagnostics import gradient_norms
from bnlab.models import make_mlp
from bnlab.training import History, batch_order, evaluate, is_eval_step, train

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


class TestBatchOrder:
    """The order every trainer draws its mini-batches in (train, stacked, data-parallel)."""

    def test_each_epoch_samples_without_replacement(self):
        batches = batch_order(10, 3, seeds=[0, 1, 2])
        for _ in range(4):  # 10 // 3 = 3 steps per epoch, one example left out
            epoch = torch.cat([next(batches) for _ in range(3)], dim=1)
            assert epoch.shape == (3, 9)
            assert all(row.unique().numel() == 9 for row in epoch)

    def test_a_runs_order_does_not_depend_on_the_others(self):
        together, alone = batch_order(20, 4, seeds=[5, 7]), batch_order(20, 4, seeds=[7])
        for _ in range(12):
            assert torch.equal(next(together)[1], next(alone)[0])

    def test_epochs_differ(self):
        batches = batch_order(8, 8, seeds=[0])
        assert not torch.equal(next(batches), next(batches))

    @pytest.mark.parametrize("batch_size, match", [(0, ">= 1"), (11, "<= len")])
    def test_bad_batch_size(self, batch_size, match):
        with pytest.raises(ValueError, match=f"batch_size must be {match}"):
            batch_order(10, batch_size, seeds=[0])


class TestHistoryFromRecords:
    def test_fields(self):
        h = History.from_records(
            [2.0, 1.5, np.inf], [(0, 2.2, 0.1), (3, 1.4, 0.6)], diverged=True, seconds=1.5
        )
        assert h.loss.tolist() == [2.0, 1.5, np.inf] and h.eval_step.dtype.kind == "i"
        assert h.val_loss.tolist() == [2.2, 1.4] and h.val_acc.tolist() == [0.1, 0.6]
        assert h.diverged and h.seconds == 1.5 and np.isnan(h.final_acc)

    def test_eval_schedule(self):
        due = [d for d in range(101) if is_eval_step(d, steps=100, eval_every=30)]
        assert due == [0, 30, 60, 90, 100]
