"""bnlab.stacked_training reproduces each network trained alone (float64, exact same draws)."""

import numpy as np
import pytest
import torch

from bnlab.diagnostics import landscape_along_gradient
from bnlab.models import make_mlp
from bnlab.stacked_models import StackedMLP
from bnlab.stacked_training import landscape_stacked, train_stacked
from bnlab.training import train

SEEDS = (0, 1, 2)
LRS = (0.05, 0.1, 0.2)


def nets(norm, seeds=SEEDS, **kw):
    return [make_mlp(64, 10, width=32, depth=3, norm=norm, seed=s, **kw).double() for s in seeds]


def max_state_diff(a, b):
    return max(
        (x - y).abs().max().item()
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
        if x.is_floating_point()
    )


class TestAgreesWithTrainAlone:
    # GroupNorm with 4 channels a group is chaotic under SGD: round-off of 1e-16 grows about
    # 100-fold every 8 steps (also between two single runs that differ only in summation
    # order), so its comparison stops after 20 steps.
    @pytest.mark.parametrize(
        "norm, kw, steps",
        [
            (None, {}, 60),
            ("bn", {}, 60),
            ("ln", {}, 60),
            ("gn", {}, 20),
            ("noisy_bn", {"norm_kwargs": {"noise_std": 0.5}}, 60),
        ],
    )
    def test_histories_and_weights(self, digits64, norm, kw, steps):
        Xt, yt, Xv, yv = digits64
        stack, hs = train_stacked(
            nets(norm, **kw),
            Xt,
            yt,
            Xv,
            yv,
            seeds=SEEDS,
            steps=steps,
            batch_size=32,
            lr=LRS,
            eval_every=20,
        )
        for m, (seed, lr) in enumerate(zip(SEEDS, LRS, strict=True)):
            net = nets(norm, (seed,), **kw)[0]
            alone = train(
                net, Xt, yt, Xv, yv, steps=steps, batch_size=32, lr=lr, seed=seed, eval_every=20
            )
            np.testing.assert_allclose(hs[m].loss, alone.loss, rtol=0, atol=1e-10)
            np.testing.assert_array_equal(hs[m].eval_step, alone.eval_step)
            np.testing.assert_allclose(hs[m].val_acc, alone.val_acc, rtol=0, atol=1e-12)
            assert max_state_diff(stack.member(m), net) < 1e-10

    def test_models_are_not_modified(self, digits64):
        Xt, yt, Xv, yv = digits64
        models = nets("bn")
        before = [m.state_dict()["0.weight"].clone() for m in models]
        train_stacked(models, Xt, yt, Xv, yv, seeds=SEEDS, steps=5, batch_size=32)
        for m, w in zip(models, before, strict=True):
            assert torch.equal(m.state_dict()["0.weight"], w)

    def test_diverged_member_is_frozen_and_others_unaffected(self, digits64):
        Xt, yt, Xv, yv = digits64
        lrs = (0.1, 1e30, 0.1)  # the middle network's loss becomes non-finite
        stack, hs = train_stacked(
            nets(None), Xt, yt, Xv, yv, seeds=SEEDS, steps=40, batch_size=32, lr=lrs, eval_every=10
        )

        def alone(m):
            net = nets(None, (SEEDS[m],))[0]
            kw = dict(steps=40, batch_size=32, lr=lrs[m], seed=SEEDS[m], eval_every=10)
            return train(net, Xt, yt, Xv, yv, **kw)

        diverged = alone(1)
        assert diverged.diverged and hs[1].diverged
        np.testing.assert_allclose(hs[1].loss, diverged.loss, rtol=1e-12)
        assert np.isnan(hs[1].final_acc)
        for m in (0, 2):
            assert not hs[m].diverged
            np.testing.assert_allclose(hs[m].loss, alone(m).loss, rtol=0, atol=1e-10)
        assert all(torch.isfinite(p).all() for p in stack.member(1).parameters())


class TestDiagnostics:
    def test_landscape_matches_single(self, digits64):
        X, y = digits64[0][:64], digits64[1][:64]
        models = nets("bn")
        out = landscape_stacked(StackedMLP(models), X, y, [0.05, 0.2])
        for m, model in enumerate(models):
            ref = landscape_along_gradient(model, X, y, [0.05, 0.2])
            np.testing.assert_allclose(out["loss"][m], ref["loss"], rtol=1e-10)
            np.testing.assert_allclose(out["beta"][m], ref["beta"], rtol=1e-8)
            np.testing.assert_allclose(out["grad_norm"][m], ref["grad_norm"], rtol=1e-10)


class TestBadInput:
    def test_seeds_length(self, digits64):
        with pytest.raises(ValueError, match="seeds must have length 3"):
            train_stacked(nets("bn"), *digits64, seeds=(0, 1), steps=1)

    def test_lr_length_and_sign(self, digits64):
        with pytest.raises(ValueError, match="lr must be a number or have length 3"):
            train_stacked(nets("bn"), *digits64, seeds=SEEDS, steps=1, lr=(0.1, 0.2))
        with pytest.raises(ValueError, match="lr must be > 0"):
            train_stacked(nets("bn"), *digits64, seeds=SEEDS, steps=1, lr=-0.1)
