import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from bnlab.moments import (
    RunningMoments,
    combine_moments,
    corr,
    cov,
    kurtosis,
    mean,
    skewness,
    var,
    var_textbook,
)

DTYPES = [np.float32, np.float64]
SHAPES_AXES = [
    ((7,), 0),
    ((5, 3), 0),
    ((5, 3), 1),
    ((4, 3, 2), 0),
    ((4, 3, 2), (0, 2)),
    ((6, 2), None),
]


def eps(dtype):
    return np.finfo(dtype).eps


def normal(shape, dtype, loc=0.0, scale=1.0, seed=0):
    return (loc + scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def rel_err(a, b):
    """max |a - b| / |b|, where a == b counts as 0 even at b == 0."""
    diff = np.abs(np.asarray(a, np.float64) - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.max(np.where(diff == 0, 0.0, diff / np.abs(b)))


def two_pass_tol(n, offset, true_var):
    """Error bound of the two-pass variance: O(n eps) + (eps kappa)^2, kappa = |offset| / std.

    The second term is the squared rounding error of the computed mean (Chan, Golub, LeVeque);
    the first also covers the rounding of the oracle's x - offset.
    """
    kappa = 1 + abs(offset) / np.sqrt(np.min(true_var))
    return 4 * (n + 2) * eps(np.float64) + (4 * eps(np.float64) * kappa) ** 2


offsets = st.floats(-1e9, 1e9)
log_scales = st.floats(-3, 3)
seeds = st.integers(0, 2**32 - 1)


class TestMean:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
    def test_matches_numpy(self, dtype, shape, axis):
        x = normal(shape, dtype, loc=3.0)
        mu = mean(x, axis=axis)
        assert mu.dtype == dtype
        np.testing.assert_allclose(mu, np.mean(x.astype(np.float64), axis=axis), rtol=eps(dtype))

    def test_float32_accumulates_accurately(self):
        # a naive float32 running sum of 10**6 values near 1e4 drifts by far more than one ulp
        x = normal(10**6, np.float32, loc=1e4)
        exact = np.mean(x.astype(np.float64))
        assert abs(float(mean(x)) - exact) <= eps(np.float32) * exact

    @pytest.mark.parametrize("bad", [np.arange(4), np.array([True, False]), np.ones(3, complex)])
    def test_non_float_raises_type_error(self, bad):
        with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
            mean(bad)

    def test_empty_raises(self):
        with pytest.raises(ValueError, match="x must have at least one value"):
            mean(np.zeros((0, 3)))


class TestVar:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
    @pytest.mark.parametrize("ddof", [0, 1])
    def test_matches_numpy(self, dtype, shape, axis, ddof):
        x = normal(shape, dtype, loc=-2.0, scale=3.0)
        v = var(x, axis=axis, ddof=ddof)
        assert v.dtype == dtype
        expected = np.var(x.astype(np.float64), axis=axis, ddof=ddof)
        np.testing.assert_allclose(v, expected, rtol=4 * eps(dtype))

    @pytest.mark.parametrize("n", [1, 2, 5, 100])
    def test_closed_form_of_1_to_n(self, n):
        # population variance of 1, ..., n is (n^2 - 1) / 12
        x = np.arange(1, n + 1, dtype=np.float64)
        assert var(x) == pytest.approx((n**2 - 1) / 12, rel=eps(np.float64), abs=0)

    @given(seed=seeds, offset=offsets, log_scale=log_scales, n=st.integers(2, 200))
    @settings(max_examples=60, deadline=None)
    def test_accurate_under_large_offset_float64(self, seed, offset, log_scale, n):
        scale = 10.0**log_scale
        x = normal(n, np.float64, offset, scale, seed)
        # x - offset is exact in float64 when |offset| >> scale (Sterbenz), a shift-free oracle
        expected = np.var(x - offset)
        assert rel_err(var(x), expected) <= two_pass_tol(n, offset, expected)

    @given(seed=seeds, n=st.integers(2, 1000))
    @settings(max_examples=30, deadline=None)
    def test_accurate_in_float32_at_offset_1e4(self, seed, n):
        x = normal(n, np.float32, 1e4, 1.0, seed)
        expected = np.var(x.astype(np.float64))
        assert rel_err(var(x), expected) <= eps(np.float32)

    def test_ddof_scales_by_n_over_n_minus_ddof(self):
        x = normal(10, np.float64)
        assert var(x, ddof=3) == pytest.approx(var(x) * 10 / 7, rel=4 * eps(np.float64))

    @pytest.mark.parametrize(("ddof", "error", "match"), [
        (5, ValueError, "ddof must be smaller than the number of values n=5"),
        (-1, ValueError, "ddof must be >= 0"),
        (0.5, TypeError, "ddof must be an integer"),
    ])  # fmt: skip
    def test_bad_ddof_raises(self, ddof, error, match):
        with pytest.raises(error, match=match):
            var(np.ones(5), ddof=ddof)

    def test_integer_input_raises(self):
        with pytest.raises(TypeError, match="x must have dtype"):
            var(np.arange(5))

    def test_bad_axis_raises(self):
        with pytest.raises(ValueError, match="axis"):
            var(np.ones((3, 2)), axis=2)


class TestVarTextbook:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("ddof", [0, 1])
    def test_agrees_on_centered_data(self, dtype, ddof):
        x = normal((50, 3), dtype)
        np.testing.assert_allclose(
            var_textbook(x, ddof=ddof), var(x, ddof=ddof), rtol=eps(dtype) * 50
        )

    @given(seed=seeds, log_ratio=st.floats(9, 12), log_scale=log_scales)
    @settings(max_examples=40, deadline=None)
    def test_cancellation_is_real_in_float64(self, seed, log_ratio, log_scale):
        scale = 10.0**log_scale
        offset = scale * 10.0**log_ratio
        x = normal(100, np.float64, offset, scale, seed)
        expected = np.var(x - offset)
        assert rel_err(var(x), expected) <= two_pass_tol(100, offset, expected)
        assert rel_err(var_textbook(x), expected) > 0.5

    def test_cancellation_is_real_in_float32(self):
        x = normal(1000, np.float32, 1e4, 1.0)
        expected = np.var(x.astype(np.float64))
        assert rel_err(var(x), expected) <= eps(np.float32)
        assert rel_err(var_textbook(x), expected) > 0.5


def chunked(x, cuts):
    return np.split(x, sorted(c % (len(x) + 1) for c in cuts))


class TestRunningMoments:
    @given(seed=seeds, offset=offsets, log_scale=log_scales, n=st.integers(2, 100),
           cuts=st.lists(st.integers(0, 100), max_size=10))  # fmt: skip
    @settings(max_examples=60, deadline=None)
    def test_any_chunking_equals_full_batch(self, seed, offset, log_scale, n, cuts):
        scale = 10.0**log_scale
        x = normal((n, 2), np.float64, offset, scale, seed)
        rm = RunningMoments((2,))
        chunks = list(chunked(x, cuts))
        for chunk in chunks:
            assert rm.update(chunk) is rm
        assert rm.count == n
        # each merge rounds the mean once (about eps * |mean|), and so does np.mean: a worst case
        # of one rounding per chunk plus numpy's own (a fixed 4 failed at 4.06 for 11 chunks)
        atol = (len(chunks) + 4) * eps(np.float64) * (abs(offset) + scale)
        np.testing.assert_allclose(rm.mean, np.mean(x, axis=0), rtol=0, atol=atol)
        expected = np.var(x - offset, axis=0)
        # each combination step rounds the mean by about eps * |offset|, a random walk
        tol = 8 * np.sqrt(n) * eps(np.float64) * (1 + abs(offset) / np.sqrt(np.min(expected)))
        assert rel_err(rm.var(), expected) <= tol

    @given(seed=seeds, n=st.integers(2, 60), cuts=st.lists(st.integers(0, 60), max_size=8))
    @settings(max_examples=60, deadline=None)
    def test_merge_of_random_splits_equals_full_batch(self, seed, n, cuts):
        x = normal((n, 3, 2), np.float64, 5.0, 2.0, seed)
        parts = [RunningMoments((3, 2)).update(c) for c in chunked(x, cuts)]
        rng = np.random.default_rng(seed)
        while len(parts) > 1:  # merge random pairs until one is left
            i, j = sorted(rng.choice(len(parts), 2, replace=False))
            assert parts[i].merge(parts.pop(j)) is parts[i]
        (rm,) = parts
        assert rm.count == n
        np.testing.assert_allclose(rm.mean, np.mean(x, axis=0), rtol=16 * eps(np.float64))
        np.testing.assert_allclose(
            rm.var(ddof=1), np.var(x, axis=0, ddof=1), rtol=64 * eps(np.float64)
        )

    def test_one_at_a_time_is_welford_at_offset_1e9(self):
        x = normal(1000, np.float64, 1e9, 1.0)
        rm = RunningMoments()
        for xi in x:
            rm.update(xi[None])
        assert rel_err(rm.var(), np.var(x - 1e9)) < 1e-6
        assert rel_err(var_textbook(x), np.var(x - 1e9)) > 0.5

    def test_float32_state(self):
        x = normal((500, 4), np.float32, 1e4, 1.0)
        rm = RunningMoments(4, dtype=np.float32)
        for chunk in np.array_split(x, 7):
            rm.update(chunk)
        assert rm.mean.dtype == rm.m2.dtype == rm.var().dtype == np.float32
        assert rel_err(rm.var(), np.var(x.astype(np.float64), axis=0)) < 1e3 * eps(np.float32)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_from_batch(self, dtype):
        x = normal((9, 2), dtype)
        rm = RunningMoments.from_batch(x)
        assert (rm.count, rm.shape, rm.mean.dtype) == (9, (2,), dtype)
        np.testing.assert_allclose(rm.var(ddof=1), var(x, ddof=1), rtol=eps(dtype))
        np.testing.assert_allclose(rm.m2, 9 * var(x), rtol=4 * eps(dtype))

    def test_empty_batch_and_empty_merge_change_nothing(self):
        rm = RunningMoments.from_batch(np.array([1.0, 2.0]))
        rm.update(np.zeros(0)).merge(RunningMoments())
        assert (rm.count, float(rm.mean), float(rm.m2)) == (2, 1.5, 0.5)

    def test_merge_into_empty_copies(self):
        other = RunningMoments.from_batch(np.array([1.0, 2.0, 6.0]))
        rm = RunningMoments().merge(other)
        assert (rm.count, float(rm.mean), float(rm.m2)) == (3, 3.0, 14.0)

    def test_bad_batch_shape_raises(self):
        with pytest.raises(ValueError, match=r"batch must have shape \(n, \*\(3,\)\)"):
            RunningMoments((3,)).update(np.ones((4, 2)))

    def test_merge_of_different_shapes_raises(self):
        with pytest.raises(ValueError, match=r"other must have shape \(3,\), got \(2,\)"):
            RunningMoments(3).merge(RunningMoments(2))

    def test_merge_of_non_running_moments_raises(self):
        with pytest.raises(TypeError, match="other must be a RunningMoments"):
            RunningMoments().merge(np.ones(3))

    @pytest.mark.parametrize(("count", "ddof"), [(0, 0), (1, 1), (3, 3)])
    def test_ddof_at_least_count_raises(self, count, ddof):
        rm = RunningMoments().update(np.ones(count))
        with pytest.raises(
            ValueError, match=f"ddof must be smaller than the number of values n={count}"
        ):
            rm.var(ddof=ddof)

    def test_integer_batch_raises(self):
        with pytest.raises(TypeError, match="batch must have dtype"):
            RunningMoments().update(np.arange(3))

    @pytest.mark.parametrize(("kwargs", "error", "match"), [
        ({"dtype": np.int64}, TypeError, "dtype must be float32 or float64"),
        ({"shape": [3]}, TypeError, "shape must be a tuple of int"),
        ({"shape": (-1,)}, ValueError, "shape must be >= 0"),
    ])  # fmt: skip
    def test_bad_constructor_arguments_raise(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            RunningMoments(**kwargs)


class TestCombineMoments:
    @pytest.mark.parametrize("split", [1, 5, 17])
    def test_equals_statistics_of_the_union(self, split):
        x = np.random.default_rng(0).standard_normal((20, 3)) * 4 + 7
        a, b = x[:split], x[split:]

        def stats(z):
            return len(z), z.mean(axis=0), ((z - z.mean(axis=0)) ** 2).sum(axis=0)

        n, mean, m2 = combine_moments(*stats(a), *stats(b))
        n_all, mean_all, m2_all = stats(x)
        assert n == n_all
        np.testing.assert_allclose(mean, mean_all, rtol=1e-14)
        np.testing.assert_allclose(m2, m2_all, rtol=1e-13)


class TestCov:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("ddof", [0, 1, 2])
    @pytest.mark.parametrize("shape", [(10, 1), (10, 4), (3, 6)])
    def test_matches_numpy(self, dtype, ddof, shape):
        X = normal(shape, dtype, loc=1.0)
        C = cov(X, ddof=ddof)
        assert C.dtype == dtype and C.shape == (shape[1], shape[1])
        expected = np.cov(X.astype(np.float64), rowvar=False, ddof=ddof).reshape(C.shape)
        np.testing.assert_allclose(C, expected, rtol=16 * eps(dtype), atol=16 * eps(dtype))

    def test_symmetric_psd_with_variances_on_diagonal(self):
        X = normal((3, 6), np.float64)  # rank-deficient: N < D
        C = cov(X)
        np.testing.assert_array_equal(C, C.T)
        assert np.linalg.eigvalsh(C).min() >= -16 * eps(np.float64) * np.trace(C)
        np.testing.assert_allclose(np.diag(C), var(X, ddof=1), rtol=4 * eps(np.float64))

    def test_recovers_cholesky_covariance(self):
        L = np.array([[1.0, 0.0], [0.8, 0.6]])
        Z = np.random.default_rng(0).standard_normal((4000, 2))
        Z = (Z - Z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(Z, rowvar=False))).T
        np.testing.assert_allclose(cov(Z @ L.T), L @ L.T, atol=1e-12)

    @pytest.mark.parametrize("bad", [np.ones(4), np.ones((2, 2, 2)), np.ones((0, 3))])
    def test_not_a_matrix_raises(self, bad):
        with pytest.raises(ValueError, match=r"X must have shape \(N, D\)"):
            cov(bad)

    def test_ddof_too_large_raises(self):
        with pytest.raises(ValueError, match="ddof must be smaller"):
            cov(np.ones((1, 3)))


class TestCorr:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_numpy(self, dtype):
        X = normal((20, 4), dtype) @ np.array(
            [[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, -3.0], [0, 0, 0, 1]]
        )
        X = X.astype(dtype)
        R = corr(X)
        assert R.dtype == dtype
        expected = np.corrcoef(X.astype(np.float64), rowvar=False)
        np.testing.assert_allclose(R, expected, rtol=16 * eps(dtype), atol=16 * eps(dtype))
        np.testing.assert_array_equal(np.diag(R), 1)

    def test_exact_linear_relations_give_plus_minus_one(self):
        x = normal(30, np.float64)
        R = corr(np.stack([x, 2 * x + 1, -0.5 * x], axis=1))
        np.testing.assert_allclose(
            R, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]], atol=4 * eps(np.float64)
        )
        assert np.abs(R).max() <= 1

    def test_uncorrelated_but_dependent(self):
        x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
        assert corr(np.stack([x, x**2], axis=1))[0, 1] == 0.0

    def test_constant_column_raises(self):
        with pytest.raises(ValueError, match=r"X has constant column\(s\) \[1\]"):
            corr(np.stack([np.arange(3.0), np.ones(3)], axis=1))


class TestSkewnessKurtosis:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
    def test_match_scipy(self, dtype, shape, axis):
        x = normal(shape, dtype, loc=2.0) ** 2  # skewed, heavy-ish tails
        x64 = x.astype(np.float64)
        tol = {"rtol": 64 * eps(dtype), "atol": 64 * eps(dtype)}
        g1 = skewness(x, axis=axis)
        assert g1.dtype == dtype
        np.testing.assert_allclose(g1, scipy.stats.skew(x64, axis=axis, bias=True), **tol)
        for excess in (True, False):
            g2 = kurtosis(x, axis=axis, excess=excess)
            assert g2.dtype == dtype
            expected = scipy.stats.kurtosis(x64, axis=axis, fisher=excess, bias=True)
            np.testing.assert_allclose(g2, expected, **tol)

    @pytest.mark.parametrize(("k", "n"), [(1, 2), (1, 4), (3, 10), (7, 10)])
    def test_bernoulli_closed_forms(self, k, n):
        # k ones in n values: exactly a Bernoulli(p = k / n) population
        x = np.r_[np.ones(k), np.zeros(n - k)]
        p, q = k / n, 1 - k / n
        assert skewness(x) == pytest.approx((q - p) / np.sqrt(p * q), rel=1e-14, abs=1e-15)
        assert kurtosis(x) == pytest.approx((1 - 6 * p * q) / (p * q), rel=1e-14)
        assert kurtosis(x, excess=False) == pytest.approx((1 - 3 * p * q) / (p * q), rel=1e-14)

    def test_shift_and_scale_invariant(self):
        x = normal(200, np.float64) ** 3
        assert skewness(1e3 + 7 * x) == pytest.approx(skewness(x), rel=1e-10)
        assert skewness(-x) == pytest.approx(-skewness(x), rel=1e-12)
        assert kurtosis(1e3 + 7 * x) == pytest.approx(kurtosis(x), rel=1e-10)

    def test_constant_gives_nan_without_warning(self):
        x = np.stack([np.ones(5), np.arange(5.0)], axis=1)
        assert np.isnan(skewness(x)[0]) and np.isnan(kurtosis(x)[0])
        assert skewness(x)[1] == 0.0

    def test_bad_input_raises(self):
        with pytest.raises(TypeError, match="x must have dtype"):
            skewness(np.arange(5))
        with pytest.raises(TypeError, match="excess must be a bool"):
            kurtosis(np.ones(5), excess="yes")
