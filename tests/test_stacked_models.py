"""bnlab.stacked_models: a stack computes what each of its networks computes alone."""

import pytest
import torch

from bnlab.diagnostics import record_activations
from bnlab.models import make_mlp
from bnlab.stacked_models import StackedMLP
from bnlab.stacked_training import stacked_loss

SEEDS = (0, 1, 2)


def nets(norm, seeds=SEEDS, **kw):
    return [make_mlp(64, 10, width=32, depth=3, norm=norm, seed=s, **kw).double() for s in seeds]


class TestDiagnostics:
    def test_pre_activations_match_record_activations(self, digits64):
        X = digits64[2][:50]
        models = nets("bn")
        stack = StackedMLP(models)
        zs = stack.pre_activations(X)
        for m, model in enumerate(models):
            for z_stack, z in zip(zs, record_activations(model, X), strict=True):
                torch.testing.assert_close(z_stack[m], z, rtol=0, atol=1e-12)
        assert torch.equal(stack.layers[1].running_mean, torch.zeros(3, 32, dtype=torch.float64))

    def test_gradient_norms_shape(self, digits64):
        stack = StackedMLP(nets("bn"))
        stacked_loss(stack, digits64[0][:20], digits64[1][:20])[0].sum().backward()
        assert stack.gradient_norms().shape == (3, 4)


class TestBadInput:
    def test_empty(self):
        with pytest.raises(ValueError, match="at least one network"):
            StackedMLP([])

    def test_architectures_differ(self):
        with pytest.raises(ValueError, match=r"models\[1\] differs in architecture"):
            StackedMLP([make_mlp(4, 2, depth=2), make_mlp(4, 2, depth=3)])

    def test_not_sequential(self):
        with pytest.raises(TypeError, match="nn.Sequential"):
            StackedMLP([torch.nn.Linear(2, 2)])

    def test_input_shape(self):
        stack = StackedMLP(nets("bn"))
        with pytest.raises(ValueError, match=r"x must have shape \(N, D\) or \(3, N, D\)"):
            stack(torch.zeros(2, 5, 64, dtype=torch.float64))
