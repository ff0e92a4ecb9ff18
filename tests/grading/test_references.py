"""Tests for course.grading.references: the hidden tests' adapters against independent oracles."""

import numpy as np
import pytest
import torch

from course.grading import references


class TestInferenceStats:
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    @pytest.mark.parametrize(("T", "m", "D"), [(1, 2, 1), (7, 5, 4), (30, 2, 3)])
    def test_matches_torch_cumulative_running_stats(self, dtype, T, m, D):
        batches = np.random.default_rng(0).normal(3.0, 2.0, size=(T, m, D)).astype(dtype)
        layer = torch.nn.BatchNorm1d(D, momentum=None).double()
        with torch.no_grad():
            for xb in batches:
                layer(torch.from_numpy(xb.astype(np.float64)))
        mean, var = references.inference_stats(batches)
        assert mean.dtype == dtype and var.dtype == dtype
        tol = 10 * np.finfo(dtype).eps * np.abs(batches).max() ** 2
        np.testing.assert_allclose(mean, layer.running_mean.numpy(), rtol=0, atol=tol)
        np.testing.assert_allclose(var, layer.running_var.numpy(), rtol=0, atol=tol)

    @pytest.mark.parametrize("shape", [(3, 1, 2), (4, 8)])
    def test_refuses(self, shape):
        with pytest.raises(ValueError):
            references.inference_stats(np.ones(shape))


class TestBnSgdAngles:
    def test_matches_gradient_steps_on_a_scale_invariant_loss(self):
        # L(w) = f(w / |w|) with grad f = u fixed, u orthogonal to w: |grad L| = |u| / |w|
        w, u, lr = np.array([1.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0]), 0.3
        expected = []
        for _ in range(5):
            r = np.linalg.norm(w)
            g = (u - (u @ w) * w / r**2) / r
            step = w - lr * g
            expected.append(np.arccos(step @ w / (np.linalg.norm(step) * r)))
            w = step
            u = np.linalg.norm(u) * np.cross([0.0, 0.0, 1.0], w) / np.linalg.norm(w)
        np.testing.assert_allclose(references.bn_sgd_angles(1.0, 2.0, lr, 5), expected, rtol=1e-12)

    @pytest.mark.parametrize("lr", [1e-2, 1.0, 1e2, 1e4])
    def test_bound_holds_at_every_learning_rate(self, lr):
        a = references.bn_sgd_angles(1.0, 1.0, lr, 300)
        t = np.arange(1, 300)
        assert np.all(np.tan(a[1:]) <= 1 / np.sqrt(2 * t) * (1 + 1e-12))

    @pytest.mark.parametrize("args", [(0.0, 1.0, 1.0, 5), (1.0, -1.0, 1.0, 5), (1.0, 1.0, 1.0, 0)])
    def test_refuses(self, args):
        with pytest.raises(ValueError):
            references.bn_sgd_angles(*args)
