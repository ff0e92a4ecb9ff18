"""The networks of the experiments (chapters 6-8): `make_mlp` and `NoisyBatchNorm1d`.

- `make_mlp` builds ``Linear -> norm -> activation`` blocks with a chosen init scale,
- `NoisyBatchNorm1d` is BN followed by noise whose distribution changes every step
  (the "noisy BN" of Santurkar et al. 2018).

Inputs are torch tensors ``X`` of shape (N, D), float32.
"""

import numpy as np
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
NORMS = (None, "bn", "noisy_bn", "ln", "gn")
PLACEMENTS = ("before", "after")


class NoisyBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d followed by a random shift and scale that change at every training step.

    Parameters
    ----------
    num_features : int
        D, the number of features of the (N, D) input.
    shift : float, default 1.0
        Per step and per feature a shift ``m_t ~ U(-shift, shift)`` is drawn.
    scale : float, default 1.5
        Per step and per feature a scale ``a_t`` is drawn log-uniformly from [1/scale, scale].
    noise_std : float, default 0.0
        Standard deviation of extra i.i.d. Gaussian noise per sample and feature.
    **kwargs
        Passed to `torch.nn.BatchNorm1d` (eps, momentum, ...).

    Notes
    -----
    In training mode the output is ``a_t * y + m_t + noise_std * z`` with ``y`` the BN output
    and ``z ~ N(0, 1)``. Each unit's output thus has a mean and a variance that are redrawn on
    every forward pass: the next layer sees an input distribution that moves at every step --
    "internal covariate shift" injected on purpose after the normalization (Santurkar et al.
    2018). With ``noise_std = 0`` the whole batch moves together; Santurkar et al. perturb each
    example separately, which ``noise_std > 0`` adds (per-example noise with the moving mean
    ``m_t``). In eval mode the layer is plain BN. The noise comes from torch's global generator, so
    `torch.manual_seed` makes it reproducible. Chapter 8 trains with it.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> layer = NoisyBatchNorm1d(3, shift=2.0, scale=1.0)
    >>> x = torch.randn(5, 3)
    >>> moved = layer(x) - nn.functional.batch_norm(x, None, None, training=True)
    >>> bool((moved - moved[0]).abs().max() < 1e-6)  # one shift per feature and step
    True
    """

    def __init__(self, num_features, shift=1.0, scale=1.5, noise_std=0.0, **kwargs):
        super().__init__(num_features, **kwargs)
        if shift < 0 or scale < 1 or noise_std < 0:
            raise ValueError(
                f"need shift >= 0, scale >= 1 and noise_std >= 0, got {shift}, {scale}, {noise_std}"
            )
        self.shift, self.scale, self.noise_std = float(shift), float(scale), float(noise_std)

    def forward(self, x):
        y = super().forward(x)
        if not self.training:
            return y
        d = x.shape[1]
        m_t = (2 * torch.rand(d, dtype=x.dtype) - 1) * self.shift
        a_t = torch.exp((2 * torch.rand(d, dtype=x.dtype) - 1) * np.log(self.scale))
        return a_t * y + m_t + self.noise_std * torch.randn_like(y)


def _norm_layer(norm, width, num_groups, norm_kwargs):
    if norm == "bn":
        return nn.BatchNorm1d(width, **norm_kwargs)
    if norm == "noisy_bn":
        return NoisyBatchNorm1d(width, **norm_kwargs)
    if norm == "ln":
        return nn.LayerNorm(width, **norm_kwargs)
    if norm == "gn":
        return nn.GroupNorm(num_groups, width, **norm_kwargs)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def make_mlp(
    in_features,
    out_features,
    width=64,
    depth=6,
    norm=None,
    activation="relu",
    init_scale=1.0,
    num_groups=8,
    norm_kwargs=None,
    seed=0,
    placement="before",
):
    """Build an MLP of `depth` hidden blocks ``Linear -> norm -> activation`` and a linear head.

    Parameters
    ----------
    in_features, out_features : int
        Input dimension D and number of classes K.
    width : int, default 64
        Units per hidden layer.
    depth : int, default 6
        Number of hidden layers (each with its own weight matrix); the network has
        ``depth + 1`` Linear layers.
    norm : {None, "bn", "noisy_bn", "ln", "gn"}, default None
        Normalization between each hidden Linear and its activation; never after the head.
    activation : {"relu", "tanh", "sigmoid"}, default "relu"
    init_scale : float, default 1.0
        Multiplier of the standard initialization (He for ReLU, see Notes).
    num_groups : int, default 8
        Groups for ``norm="gn"``; must divide `width`.
    norm_kwargs : dict, optional
        Extra keyword arguments for every norm layer, e.g. ``{"shift": 2.0}`` for noisy BN.
    seed : int, default 0
        Seeds the weight initialization (torch's global generator is left untouched).
    placement : {"before", "after"}, default "before"
        Where the norm sits relative to the activation: ``Linear -> norm -> activation``
        ("before", the standard block) or ``Linear -> activation -> norm`` ("after"; chapter 7
        compares the two).

    Returns
    -------
    torch.nn.Sequential
        Maps (N, in_features) to logits (N, out_features).

    Notes
    -----
    Every weight is drawn from :math:`N(0, \\sigma^2)` with
    :math:`\\sigma = \\text{init\\_scale} \\cdot g / \\sqrt{\\text{fan\\_in}}`, where ``g`` is
    `torch.nn.init.calculate_gain` of the activation (sqrt(2) for ReLU, 5/3 for tanh, 1 for
    sigmoid) and 1 for the head. Biases start at 0. A Linear followed by BN gets no bias: BN
    subtracts the batch mean, so a bias there would cancel exactly (chapter 7). LayerNorm and
    GroupNorm keep it, because they subtract a mean over features, which does not cancel a
    per-feature bias. With ``placement="after"`` every Linear keeps its bias (an activation,
    not BN, follows it). Chapters 7 and 8 use this builder for every experiment.

    Examples
    --------
    >>> net = make_mlp(64, 10, width=32, depth=3, norm="bn")
    >>> [type(m).__name__ for m in net][:4]
    ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
    >>> net(torch.zeros(5, 64)).shape
    torch.Size([5, 10])
    >>> [type(m).__name__ for m in make_mlp(64, 10, depth=1, norm="bn", placement="after")]
    ['Linear', 'ReLU', 'BatchNorm1d', 'Linear']
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
    if not init_scale > 0:
        raise ValueError(f"init_scale must be > 0, got {init_scale}")
    if norm == "gn" and width % num_groups:
        raise ValueError(f"num_groups must divide width, got {num_groups} and {width}")
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    after = placement == "after"
    gen = torch.Generator().manual_seed(seed)
    gain = nn.init.calculate_gain(activation)
    layers, fan_in = [], in_features
    for _ in range(depth):
        linear = nn.Linear(fan_in, width, bias=after or norm not in ("bn", "noisy_bn"))
        _init_linear(linear, init_scale * gain, gen)
        block = [linear, ACTIVATIONS[activation]()]
        if norm is not None:
            block.insert(2 if after else 1, _norm_layer(norm, width, num_groups, norm_kwargs or {}))
        layers += block
        fan_in = width
    head = nn.Linear(fan_in, out_features)
    _init_linear(head, init_scale, gen)
    layers.append(head)
    return nn.Sequential(*layers)


def _init_linear(linear, gain, gen):
    with torch.no_grad():
        std = gain / np.sqrt(linear.in_features)
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=gen) * std)
        if linear.bias is not None:
            linear.bias.zero_()
