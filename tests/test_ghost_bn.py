"""bnlab.ghost_bn: ghost BN is BN of each ghost batch (oracle: bnlab.batchnorm, torch)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bnlab import batchnorm as bn
from bnlab.ghost_bn import ghost_batch_norm

ATOL = 1e-12  # float64 round-off, relative to the size of the compared values


def assert_close(actual, expected):
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=0, atol=ATOL * scale)


class TestGhostBatchNorm:
    def test_equals_bn_of_each_ghost_batch(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(10, 3, 2, generator=g, dtype=torch.float64)
        y = ghost_batch_norm(x, 4)
        pieces = [x[:4], x[4:8], x[8:]]
        expected = [bn.forward(p.numpy(), np.ones(3), np.zeros(3))[0] for p in pieces]
        assert_close(y, torch.from_numpy(np.concatenate(expected)))

    def test_whole_batch_is_plain_bn(self):
        x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        assert_close(ghost_batch_norm(x, 6), F.batch_norm(x, None, None, training=True))

    def test_bad_ghost_size(self):
        with pytest.raises(ValueError, match="ghost_size must be an integer >= 1"):
            ghost_batch_norm(torch.zeros(4, 2), 0)
