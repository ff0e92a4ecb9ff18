"""Many networks as one module: networks of one architecture stacked along a model axis.

Chapter 8 repeats every experiment over seeds, learning rates and initialization scales. A
Python loop over runs pays torch's per-call overhead once per run; here the runs share it. The
M networks built by `bnlab.models.make_mlp` are stacked along a leading *model axis*:

- a Linear layer becomes one weight of shape (M, in, out), applied with a batched matrix
  product to activations of shape (M, N, in);
- BN normalizes every (model, feature) column over the batch axis: it is an ordinary
  ``batch_norm`` over M*F columns;
- LayerNorm and GroupNorm normalize each example of each model, with per-model affine
  parameters;
- `StackedMLP.member` copies one network back out.

This module is the model; `bnlab.stacked_training` trains a stack (with a per-model learning
rate), evaluates it and probes its loss landscape, as `bnlab.training` and `bnlab.diagnostics`
do for one network.
"""

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bnlab.models import ACTIVATIONS, NoisyBatchNorm1d


class StackedLinear(nn.Module):
    """M Linear layers: ``x @ weight + bias`` with weight (M, in, out) and bias (M, 1, out)."""

    def __init__(self, linears):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([lin.weight.detach().T for lin in linears]))
        has_bias = linears[0].bias is not None
        self.bias = (
            nn.Parameter(torch.stack([lin.bias.detach()[None] for lin in linears]))
            if has_bias
            else None
        )

    def forward(self, x):
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias, x, self.weight)

    def member(self, m, linear):
        """Copy model `m`'s weights into the single `linear` (of the template's shape)."""
        linear.weight.copy_(self.weight[m].T)
        if self.bias is not None:
            linear.bias.copy_(self.bias[m, 0])


class StackedBatchNorm(nn.Module):
    """BN per (model, feature) over the batch: ``batch_norm`` over the M*F columns.

    For stacked `NoisyBatchNorm1d` layers the shift, scale and per-example noise of model m are
    drawn from ``generators[m]`` in the same order as the single layer draws them from torch's
    global generator, so a stacked run injects exactly the noise of the runs alone. Noise is
    injected in training mode whenever `generators` is set (as
    `bnlab.stacked_training.train_stacked` does).
    """

    def __init__(self, norms):
        super().__init__()
        first = norms[0]
        self.eps, self.momentum = first.eps, first.momentum
        self.noisy = isinstance(first, NoisyBatchNorm1d)
        if self.noisy:
            self.shift, self.scale, self.noise_std = first.shift, first.scale, first.noise_std
        self.weight = nn.Parameter(torch.stack([n.weight.detach() for n in norms]))
        self.bias = nn.Parameter(torch.stack([n.bias.detach() for n in norms]))
        self.register_buffer("running_mean", torch.stack([n.running_mean for n in norms]))
        self.register_buffer("running_var", torch.stack([n.running_var for n in norms]))
        self.generators = None

    def forward(self, x):
        M, N, D = x.shape
        cols = x.transpose(0, 1).reshape(N, M * D)
        y = F.batch_norm(
            cols,
            self.running_mean.view(-1),
            self.running_var.view(-1),
            self.weight.reshape(-1),
            self.bias.reshape(-1),
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )
        y = y.reshape(N, M, D).transpose(0, 1)
        if self.noisy and self.training and self.generators is not None:
            y = self._inject(y)
        return y

    def _inject(self, y):
        M, N, D = y.shape
        a, m, z = [], [], []
        for g in self.generators:  # the draws of NoisyBatchNorm1d.forward, in its order
            m.append((2 * torch.rand(D, dtype=y.dtype, generator=g) - 1) * self.shift)
            a.append(
                torch.exp((2 * torch.rand(D, dtype=y.dtype, generator=g) - 1) * np.log(self.scale))
            )
            z.append(torch.randn(N, D, dtype=y.dtype, generator=g))
        return (
            torch.stack(a)[:, None] * y + torch.stack(m)[:, None] + self.noise_std * torch.stack(z)
        )

    def member(self, m, norm):
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(norm, name).copy_(getattr(self, name)[m])


class StackedFeatureNorm(nn.Module):
    """LayerNorm or GroupNorm of each example of each model, with per-model gamma and beta."""

    def __init__(self, norms):
        super().__init__()
        first = norms[0]
        self.eps = first.eps
        self.num_groups = first.num_groups if isinstance(first, nn.GroupNorm) else 1
        self.weight = nn.Parameter(torch.stack([n.weight.detach()[None] for n in norms]))
        self.bias = nn.Parameter(torch.stack([n.bias.detach()[None] for n in norms]))

    def forward(self, x):
        M, N, D = x.shape
        x_hat = F.group_norm(x.reshape(M * N, D), self.num_groups, eps=self.eps)
        return x_hat.reshape(M, N, D) * self.weight + self.bias

    def member(self, m, norm):
        norm.weight.copy_(self.weight[m, 0])
        norm.bias.copy_(self.bias[m, 0])


def _stack_layer(layers):
    first = layers[0]
    if isinstance(first, nn.Linear):
        return StackedLinear(layers)
    if isinstance(first, nn.BatchNorm1d):
        return StackedBatchNorm(layers)
    if isinstance(first, (nn.LayerNorm, nn.GroupNorm)):
        return StackedFeatureNorm(layers)
    if isinstance(first, tuple(ACTIVATIONS.values())):
        return copy.deepcopy(first)
    raise TypeError(f"cannot stack a layer of type {type(first).__name__}")


def _signature(model):
    sig = []
    for layer in model:
        shapes = tuple(tuple(p.shape) for p in layer.parameters())
        extra = (
            (layer.shift, layer.scale, layer.noise_std)
            if isinstance(layer, NoisyBatchNorm1d)
            else ()
        )
        sig.append(
            (
                type(layer).__name__,
                shapes,
                getattr(layer, "eps", None),
                getattr(layer, "momentum", None),
                getattr(layer, "num_groups", None),
                extra,
            )
        )
    return sig


class StackedMLP(nn.Module):
    """M networks of one architecture as one module on inputs of shape (M, N, D).

    Parameters
    ----------
    models : sequence of torch.nn.Sequential, length M >= 1
        Networks from `bnlab.models.make_mlp` with the same architecture (layer types,
        shapes, norm settings); their weights may differ (seeds, init scales). Copied, not
        shared.

    Notes
    -----
    Every parameter and buffer has the model axis first. ``forward`` accepts (N, D), which every
    model sees, or (M, N, D), one batch per model, and returns logits of shape (M, N, K).
    `member` copies one model back out as an ordinary ``nn.Sequential``. Chapter 8 trains its
    seeds, learning rates and initialization scales this way.

    Examples
    --------
    >>> from bnlab.models import make_mlp
    >>> nets = [make_mlp(4, 3, width=8, depth=2, norm="bn", seed=s) for s in range(5)]
    >>> stack = StackedMLP(nets)
    >>> stack(torch.randn(10, 4)).shape
    torch.Size([5, 10, 3])
    >>> x = torch.randn(10, 4)
    >>> bool(torch.allclose(stack(x)[2], nets[2](x), atol=1e-6))
    True
    """

    def __init__(self, models):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("models must hold at least one network, got none")
        if not all(isinstance(m, nn.Sequential) for m in models):
            raise TypeError("models must be torch.nn.Sequential networks (from make_mlp)")
        sig = _signature(models[0])
        for i, model in enumerate(models[1:], start=1):
            if _signature(model) != sig:
                raise ValueError(f"models[{i}] differs in architecture from models[0]")
        self._template = (copy.deepcopy(models[0]),)  # a tuple: not registered as a submodule
        self.layers = nn.ModuleList(
            _stack_layer([model[i] for model in models]) for i in range(len(models[0]))
        )
        self.training = models[0].training
        self.train(self.training)

    @property
    def num_models(self):
        """M, the number of stacked networks."""
        return self.layers[0].weight.shape[0]

    def forward(self, x):
        if x.ndim == 2:
            x = x.expand(self.num_models, *x.shape)
        if x.ndim != 3 or x.shape[0] != self.num_models:
            raise ValueError(
                f"x must have shape (N, D) or ({self.num_models}, N, D), got {tuple(x.shape)}"
            )
        for layer in self.layers:
            x = layer(x)
        return x

    def set_generators(self, generators):
        """Give every noisy BN layer one torch.Generator per model (None: no noise)."""
        for layer in self.layers:
            if isinstance(layer, StackedBatchNorm):
                layer.generators = generators

    def member(self, m):
        """Model `m` as an ordinary ``nn.Sequential`` (a copy, in the stack's train/eval mode)."""
        net = copy.deepcopy(self._template[0])
        with torch.no_grad():
            for stacked, single in zip(self.layers, net, strict=True):
                if hasattr(stacked, "member"):
                    stacked.member(m, single)
        return net.train(self.training)

    def gradient_norms(self):
        """``||dL/dW_l||`` of every Linear layer of every model, shape (M, L); after backward."""
        return torch.stack(
            [
                layer.weight.grad.norm(dim=(1, 2))
                for layer in self.layers
                if isinstance(layer, StackedLinear)
            ],
            dim=1,
        ).numpy()

    def pre_activations(self, X):
        """Inputs of every activation of every model on `X`, with batch statistics.

        Parameters
        ----------
        X : Tensor of shape (N, D) or (M, N, D)

        Returns
        -------
        list of Tensor of shape (M, N, width), one per hidden layer
            As `bnlab.diagnostics.record_activations`, per model: BN normalizes with the
            statistics of `X`, and the running statistics are left untouched.
        """
        from bnlab.diagnostics import batch_statistics

        zs = []
        kinds = tuple(ACTIVATIONS.values())
        hooks = [
            layer.register_forward_hook(lambda mod, inp, out: zs.append(inp[0].detach()))
            for layer in self.layers
            if isinstance(layer, kinds)
        ]
        try:
            with batch_statistics(self), torch.no_grad():
                self(X)
        finally:
            for h in hooks:
                h.remove()
        return zs
