"""bnlab.norms against torch float64 (F.layer_norm, F.group_norm, F.instance_norm)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bnlab.norms import group_norm, layer_norm

DTYPES = [np.float32, np.float64]
SHAPES = [(5, 6), (3, 4, 7), (2, 6, 3, 4), (2, 4, 2, 3, 2)]


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def tol(dtype):
    return 1e-12 if dtype == np.float64 else 256 * np.finfo(dtype).eps


def make(shape, param_shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(3, 2, shape).astype(dtype)
    gamma = rng.uniform(0.5, 2, param_shape).astype(dtype)
    beta = rng.normal(0, 1, param_shape).astype(dtype)
    return x, gamma, beta


class TestLayerNorm:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("shape", SHAPES)
    def test_matches_torch(self, shape, dtype):
        x, gamma, beta = make(shape, shape[1:], dtype)
        y = layer_norm(x, gamma, beta)
        y_ref = F.layer_norm(t64(x), shape[1:], t64(gamma), t64(beta), eps=1e-5).numpy()
        assert y.dtype == dtype and y.shape == shape
        np.testing.assert_allclose(y, y_ref, rtol=0, atol=tol(dtype) * np.abs(y_ref).max())

    def test_each_sample_standardized(self):
        shape = (4, 3, 5)
        x, _, _ = make(shape, shape[1:], np.float64)
        y = layer_norm(x, np.ones(shape[1:]), np.zeros(shape[1:]), eps=0.0)
        np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-14)
        np.testing.assert_allclose(y.var(axis=(1, 2)), 1.0, rtol=1e-12)

    def test_independent_of_batch(self):
        x, gamma, beta = make((6, 8), (8,), np.float64)
        y = layer_norm(x, gamma, beta)
        np.testing.assert_allclose(layer_norm(x[2:3], gamma, beta), y[2:3], rtol=1e-15)

    def test_worked_rows_scale_invariant(self):
        x = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
        y = layer_norm(x, np.ones(3), np.zeros(3), eps=0.0)
        expected = np.array([-1.0, 0.0, 1.0]) * np.sqrt(1.5)
        np.testing.assert_allclose(y, [expected, expected], rtol=1e-15, atol=1e-15)


class TestGroupNorm:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("shape", [(5, 6), (3, 6, 7), (2, 6, 3, 4), (2, 6, 2, 3, 2)])
    @pytest.mark.parametrize("num_groups", [1, 2, 3, 6])
    def test_matches_torch(self, shape, num_groups, dtype):
        x, gamma, beta = make(shape, (shape[1],), dtype)
        y = group_norm(x, num_groups, gamma, beta)
        y_ref = F.group_norm(t64(x), num_groups, t64(gamma), t64(beta), eps=1e-5).numpy()
        assert y.dtype == dtype and y.shape == shape
        np.testing.assert_allclose(y, y_ref, rtol=0, atol=tol(dtype) * np.abs(y_ref).max())

    def test_one_group_per_channel_is_instance_norm(self):
        x, gamma, beta = make((3, 4, 5, 5), (4,), np.float64)
        y_ref = F.instance_norm(t64(x), weight=t64(gamma), bias=t64(beta), eps=1e-5).numpy()
        np.testing.assert_allclose(group_norm(x, 4, gamma, beta), y_ref, rtol=0, atol=1e-12)

    def test_one_group_is_layer_norm_without_elementwise_affine(self):
        x, _, _ = make((3, 4, 2, 2), (4,), np.float64)
        y = group_norm(x, 1, np.ones(4), np.zeros(4))
        np.testing.assert_allclose(y, layer_norm(x, np.ones(x.shape[1:]), np.zeros(x.shape[1:])))

    def test_single_sample_works(self):
        x, gamma, beta = make((1, 4, 3), (4,), np.float64)
        y_ref = F.group_norm(t64(x), 2, t64(gamma), t64(beta)).numpy()
        np.testing.assert_allclose(group_norm(x, 2, gamma, beta), y_ref, rtol=0, atol=1e-12)

    def test_worked_two_groups(self):
        x = np.array([[1.0, 3.0, 10.0, 20.0]])
        np.testing.assert_array_equal(
            group_norm(x, 2, np.ones(4), np.zeros(4), eps=0.0), [[-1.0, 1.0, -1.0, 1.0]]
        )


class TestBadInput:
    def test_integer_input(self):
        with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
            layer_norm(np.ones((2, 3), dtype=int), np.ones(3), np.zeros(3))
        with pytest.raises(TypeError, match="x must have dtype"):
            group_norm(np.ones((2, 4), dtype=np.int64), 2, np.ones(4), np.zeros(4))

    def test_one_dimensional_input(self):
        with pytest.raises(ValueError, match="x must have at least 2 dimension"):
            layer_norm(np.ones(3), np.ones(3), np.zeros(3))
        with pytest.raises(ValueError, match="x must have at least 2 dimension"):
            group_norm(np.ones(4), 2, np.ones(4), np.zeros(4))

    def test_layer_norm_param_shape(self):
        x = np.ones((2, 3, 4))
        with pytest.raises(ValueError, match=r"gamma must have shape \(3, 4\)"):
            layer_norm(x, np.ones(3), np.zeros((3, 4)))
        with pytest.raises(ValueError, match=r"beta must have shape \(3, 4\)"):
            layer_norm(x, np.ones((3, 4)), np.zeros(4))

    def test_group_norm_param_shape(self):
        with pytest.raises(ValueError, match=r"gamma must have shape \(4,\)"):
            group_norm(np.ones((2, 4, 3)), 2, np.ones(3), np.zeros(4))
        with pytest.raises(ValueError, match=r"beta must have shape \(4,\)"):
            group_norm(np.ones((2, 4, 3)), 2, np.ones(4), np.zeros((4, 3)))

    @pytest.mark.parametrize("num_groups", [3, 5])
    def test_num_groups_must_divide_channels(self, num_groups):
        with pytest.raises(ValueError, match="num_groups must divide the number of channels C=4"):
            group_norm(np.ones((2, 4, 3)), num_groups, np.ones(4), np.zeros(4))

    def test_num_groups_type_and_sign(self):
        with pytest.raises(TypeError, match="num_groups must be an integer"):
            group_norm(np.ones((2, 4)), 2.0, np.ones(4), np.zeros(4))
        with pytest.raises(ValueError, match="num_groups must be >= 1"):
            group_norm(np.ones((2, 4)), 0, np.ones(4), np.zeros(4))

    def test_empty_input(self):
        with pytest.raises(ValueError, match="x must not be empty"):
            layer_norm(np.ones((0, 3)), np.ones(3), np.zeros(3))
        with pytest.raises(ValueError, match="x must not be empty"):
            group_norm(np.ones((0, 4)), 2, np.ones(4), np.zeros(4))

    def test_negative_eps(self):
        with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
            layer_norm(np.ones((2, 3)), np.ones(3), np.zeros(3), eps=-1e-5)
        with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
            group_norm(np.ones((2, 4)), 2, np.ones(4), np.zeros(4), eps=-1.0)
