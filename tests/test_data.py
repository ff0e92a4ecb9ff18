import numpy as np
import pytest
import sklearn.datasets

from bnlab.data import digits_tensors, load_digits


def sorted_rows(X, y):
    rows = np.column_stack([X.astype(np.float64), y])
    return rows[np.lexsort(rows.T[::-1])]


@pytest.fixture(scope="module")
def full():
    X, y = sklearn.datasets.load_digits(return_X_y=True)
    return X / 16.0, y


class TestLoadDigits:
    @pytest.mark.parametrize(("val_fraction", "n_val"), [(0.2, 360), (0.5, 899), (0.1, 180)])
    def test_shapes_dtypes_and_ranges(self, val_fraction, n_val):
        X_train, y_train, X_val, y_val = load_digits(seed=0, val_fraction=val_fraction)
        assert X_train.shape == (1797 - n_val, 64) and X_val.shape == (n_val, 64)
        assert y_train.shape == (1797 - n_val,) and y_val.shape == (n_val,)
        assert X_train.dtype == X_val.dtype == np.float32
        assert y_train.dtype == y_val.dtype == np.int64
        for X, y in ((X_train, y_train), (X_val, y_val)):
            assert X.min() == 0 and X.max() == 1
            assert set(np.unique(y)) == set(range(10))

    def test_float64(self, full):
        X_train, y_train, X_val, y_val = load_digits(dtype=np.float64)
        assert X_train.dtype == np.float64
        np.testing.assert_array_equal(
            sorted_rows(np.vstack([X_train, X_val]), np.r_[y_train, y_val]), sorted_rows(*full)
        )

    def test_split_is_a_partition_of_the_data_set(self, full):
        # the multiset of (image, label) rows of train + val equals the whole data set
        X_train, y_train, X_val, y_val = load_digits(seed=3)
        both = sorted_rows(np.vstack([X_train, X_val]), np.r_[y_train, y_val])
        np.testing.assert_array_equal(both, sorted_rows(full[0].astype(np.float32), full[1]))

    def test_no_image_in_both_sets(self, full):
        # all 1797 images are distinct, so no shared row means no shared example
        assert len(np.unique(full[0], axis=0)) == 1797
        X_train, _, X_val, _ = load_digits(seed=1)
        train = {row.tobytes() for row in X_train}
        assert not any(row.tobytes() in train for row in X_val)

    def test_deterministic_by_seed(self):
        a, b, c = load_digits(seed=5), load_digits(seed=5), load_digits(seed=6)
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
        assert not np.array_equal(a[1], c[1])

    def test_stratified(self):
        _, y_train, _, y_val = load_digits(seed=2, val_fraction=0.25)
        ratio = np.bincount(y_val) / (np.bincount(y_val) + np.bincount(y_train))
        np.testing.assert_allclose(ratio, 0.25, atol=0.01)

    @pytest.mark.parametrize(("kwargs", "error", "match"), [
        ({"val_fraction": 0.0}, ValueError, r"val_fraction must be in \(0, 1\)"),
        ({"val_fraction": 1.0}, ValueError, r"val_fraction must be in \(0, 1\)"),
        ({"val_fraction": 0.001}, ValueError, "at least 10 images on each side"),
        ({"val_fraction": "0.2"}, TypeError, "val_fraction must be a number"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
        ({"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
    ])  # fmt: skip
    def test_bad_input_raises(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            load_digits(**kwargs)


class TestDigitsTensors:
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_the_same_split_as_tensors(self, dtype):
        import torch

        arrays = load_digits(seed=3, dtype=dtype)
        tensors = digits_tensors(seed=3, dtype=dtype)
        assert [t.dtype for t in tensors] == [torch.from_numpy(a).dtype for a in arrays]
        for t, a in zip(tensors, arrays, strict=True):
            np.testing.assert_array_equal(t.numpy(), a)
