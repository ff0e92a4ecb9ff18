import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnlab.gradvar import (
    fit_power_law,
    minibatch_variance,
    population_cov_trace,
    sample_indices,
    simulate_minibatch_variance,
)

DTYPES = [np.float32, np.float64]


def gradients(n, p, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    # skewed, heavy-ish tailed coordinates with different scales, like real per-sample gradients
    return (rng.standard_exponential((n, p)) ** 2 * rng.uniform(0.1, 10, p) - 1).astype(dtype)


def all_batches(n, B, replace):
    """Every equally likely mini-batch: ordered tuples with replacement, subsets without."""
    if replace:
        return list(itertools.product(range(n), repeat=B))
    return list(itertools.combinations(range(n), B))


def enumerated_moments(G, B, replace):
    """Exact E[(g_B - g)^2] and E[(g_B - g)^4] by averaging over every possible batch."""
    d = np.array([G[list(b)].mean(axis=0) for b in all_batches(len(G), B, replace)]) - G.mean(
        axis=0
    )
    return np.mean(d**2, axis=0), np.mean(d**4, axis=0)


CASES = [
    (n, B, replace)
    for n in (1, 2, 5, 6)
    for B in range(1, min(n, 4) + 1)
    for replace in (True, False)
]


class TestPopulationCovTrace:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_is_trace_of_population_covariance(self, dtype):
        G = gradients(20, 5, dtype)
        t = population_cov_trace(G)
        assert t.dtype == dtype
        expected = np.trace(np.cov(G.astype(np.float64), rowvar=False, ddof=0))
        assert t == pytest.approx(expected, rel=float(8 * np.finfo(dtype).eps))

    def test_equals_mean_squared_distance_to_full_gradient(self):
        G = gradients(9, 3)
        expected = np.mean(np.sum((G - G.mean(axis=0)) ** 2, axis=1))
        assert population_cov_trace(G) == pytest.approx(expected, rel=1e-14)


class TestMinibatchVariance:
    @pytest.mark.parametrize(("n", "B", "replace"), CASES)
    def test_matches_enumeration_of_all_batches(self, n, B, replace):
        G = gradients(n, 3)
        exact, _ = enumerated_moments(G, B, replace)
        np.testing.assert_allclose(minibatch_variance(G, B, replace), exact, rtol=1e-12, atol=1e-15)

    @pytest.mark.parametrize(("n", "B", "replace"), CASES)
    def test_minibatch_mean_is_unbiased(self, n, B, replace):
        G = gradients(n, 2)
        batches = all_batches(n, B, replace)
        g_B = np.mean([G[list(b)].mean(axis=0) for b in batches], axis=0)
        np.testing.assert_allclose(g_B, G.mean(axis=0), rtol=1e-12)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_closed_forms_and_dtype(self, dtype):
        G = gradients(10, 4, dtype)
        sigma2 = np.var(G.astype(np.float64), axis=0)
        rtol = 8 * np.finfo(dtype).eps
        v = minibatch_variance(G, 4)
        assert v.dtype == dtype and v.shape == (4,)
        np.testing.assert_allclose(v, sigma2 / 4, rtol=rtol)
        np.testing.assert_allclose(
            minibatch_variance(G, 4, replace=False), sigma2 / 4 * 6 / 9, rtol=rtol
        )

    def test_full_batch_without_replacement_has_zero_variance(self):
        G = gradients(7, 3)
        np.testing.assert_array_equal(minibatch_variance(G, 7, replace=False), 0)
        assert np.all(minibatch_variance(G, 7, replace=True) > 0)

    @given(n=st.integers(2, 50), data=st.data())
    @settings(max_examples=40, deadline=None)
    def test_without_replacement_never_exceeds_with(self, n, data):
        B = data.draw(st.integers(1, n))
        G = gradients(n, 2, seed=n)
        with_, without = minibatch_variance(G, B), minibatch_variance(G, B, replace=False)
        assert np.all(without <= with_)
        np.testing.assert_allclose(without, with_ * (n - B) / (n - 1), rtol=1e-14)

    def test_batch_larger_than_n_without_replacement_raises(self):
        with pytest.raises(ValueError, match="B must be <= n=5 when sampling without replacement"):
            minibatch_variance(gradients(5, 2), 6, replace=False)
        assert minibatch_variance(gradients(5, 2), 6).shape == (2,)

    @pytest.mark.parametrize(("kwargs", "error", "match"), [
        ({"G": np.ones(4)}, ValueError, r"G must have shape \(n, p\)"),
        ({"G": np.ones((0, 2))}, ValueError, r"G must have shape \(n, p\) with at least one row"),
        ({"G": np.ones((4, 2), int)}, TypeError, "G must have dtype float32 or float64"),
        ({"B": 0}, ValueError, "B must be >= 1"),
        ({"B": 2.0}, TypeError, "B must be an integer"),
        ({"replace": "no"}, TypeError, "replace must be a bool"),
    ])  # fmt: skip
    def test_bad_input_raises(self, kwargs, error, match):
        args = {"G": np.ones((4, 2)), "B": 2} | kwargs
        with pytest.raises(error, match=match):
            minibatch_variance(**args)


class TestSimulateMinibatchVariance:
    @pytest.mark.parametrize(
        ("n", "B", "replace"), [(6, 1, True), (6, 3, True), (6, 3, False), (6, 5, False)]
    )
    def test_agrees_with_exact_within_monte_carlo_error(self, n, B, replace):
        # v is a mean of K i.i.d. squared deviations d^2, so its standard error is
        # sqrt((E[d^4] - E[d^2]^2) / K), computed exactly by enumeration; 4.5 standard errors
        # bound a seeded run with room (two-sided normal tail ~7e-6).
        G = gradients(n, 4)
        K = 4000
        exact, fourth = enumerated_moments(G, B, replace)
        standard_error = np.sqrt((fourth - exact**2) / K)
        v = simulate_minibatch_variance(G, B, replace, n_draws=K, rng=0)
        np.testing.assert_allclose(minibatch_variance(G, B, replace), exact, rtol=1e-12)
        assert np.all(np.abs(v - exact) <= 4.5 * standard_error)

    def test_one_over_B_law_on_a_larger_population(self):
        # Gaussian gradients: each v has relative standard error about sqrt(2 / 1000) = 4.5%
        G = np.random.default_rng(0).standard_normal((500, 3)) * [1.0, 2.0, 3.0]
        Bs = np.array([1, 2, 4, 8, 16, 32])
        v = [simulate_minibatch_variance(G, int(B), n_draws=1000, rng=1).sum() for B in Bs]
        slope, intercept = fit_power_law(Bs, np.array(v))
        assert slope == pytest.approx(-1, abs=0.05)
        assert np.exp(intercept) == pytest.approx(population_cov_trace(G), rel=0.1)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_seeded_reproducible_and_dtype(self, dtype):
        G = gradients(8, 2, dtype)
        a = simulate_minibatch_variance(G, 3, replace=False, n_draws=50, rng=7)
        b = simulate_minibatch_variance(
            G, 3, replace=False, n_draws=50, rng=np.random.default_rng(7)
        )
        assert a.dtype == dtype and a.shape == (2,)
        np.testing.assert_array_equal(a, b)

    def test_full_batch_without_replacement_is_exactly_zero(self):
        G = gradients(5, 2)
        np.testing.assert_allclose(
            simulate_minibatch_variance(G, 5, replace=False, n_draws=10, rng=0), 0, atol=1e-30
        )

    def test_bad_input_raises(self):
        with pytest.raises(ValueError, match="n_draws must be >= 1"):
            simulate_minibatch_variance(np.ones((3, 1)), 1, n_draws=0)
        with pytest.raises(ValueError, match="B must be <= n=3"):
            simulate_minibatch_variance(np.ones((3, 1)), 4, replace=False)


class TestSampleIndices:
    @pytest.mark.parametrize("replace", [True, False])
    def test_shape_range_and_determinism(self, replace):
        idx = sample_indices(10, 6, replace, rng=3)
        assert idx.shape == (6,) and idx.dtype == np.int64
        assert idx.min() >= 0 and idx.max() < 10
        np.testing.assert_array_equal(idx, sample_indices(10, 6, replace, rng=3))

    def test_without_replacement_has_no_repeats(self):
        for seed in range(20):
            assert len(set(sample_indices(8, 8, replace=False, rng=seed).tolist())) == 8

    @pytest.mark.parametrize("replace", [True, False])
    def test_every_batch_equally_likely(self, replace):
        # chi-square goodness of fit against the uniform law on all possible batches
        n, B, draws = 4, 2, 6000
        rng = np.random.default_rng(0)
        keys = [
            tuple(s if replace else sorted(s))
            for s in (sample_indices(n, B, replace, rng) for _ in range(draws))
        ]
        batches = all_batches(n, B, replace)
        counts = np.array([keys.count(b) for b in batches])
        assert counts.sum() == draws
        expected = draws / len(batches)
        chi2 = np.sum((counts - expected) ** 2 / expected)
        # 99.9% quantile of chi-square with 15 (resp. 5) degrees of freedom is 37.7 (20.5)
        assert chi2 < (37.7 if replace else 20.5)

    def test_bad_input_raises(self):
        with pytest.raises(ValueError, match="n must be >= 1"):
            sample_indices(0, 1)
        with pytest.raises(ValueError, match="B must be <= n=3"):
            sample_indices(3, 4, replace=False)


class TestFitPowerLaw:
    @given(
        slope=st.floats(-3, 3),
        log_c=st.floats(-10, 10),
        Bs=st.lists(st.integers(1, 4096), min_size=2, max_size=10, unique=True),
    )
    @settings(max_examples=50, deadline=None)
    def test_recovers_exact_power_law(self, slope, log_c, Bs):
        B = np.array(Bs)
        fitted = fit_power_law(B, np.exp(log_c) * B.astype(float) ** slope)
        np.testing.assert_allclose(fitted, (slope, log_c), atol=1e-9)

    def test_least_squares_on_noisy_data(self):
        B = np.array([1.0, 2.0, 4.0])
        v = np.array([1.0, 1.0, 0.25])
        # in units of log 2: points (0, 0), (1, 0), (2, -2); slope = Sxy / Sxx = -2 / 2,
        # intercept = mean(y) - slope * mean(x) = -2/3 + 1 = 1/3
        slope, intercept = fit_power_law(B, v)
        assert slope == pytest.approx(-1.0, rel=1e-12)
        assert intercept == pytest.approx(np.log(2) / 3, rel=1e-12)

    @pytest.mark.parametrize(("B", "v", "error", "match"), [
        ([1, 2], [1.0, 0.0], ValueError, "v must have shape"),
        ([1, 2], [1.0, 2.0, 3.0], ValueError, "B and v must have the same shape"),
        ([2, 2], [1.0, 2.0], ValueError, "two distinct batch sizes"),
        ([1, -2], [1.0, 2.0], ValueError, "B must have shape"),
        ([True, False], [1.0, 2.0], TypeError, "B must be a real numeric array"),
    ])  # fmt: skip
    def test_bad_input_raises(self, B, v, error, match):
        with pytest.raises(error, match=match):
            fit_power_law(B, v)
