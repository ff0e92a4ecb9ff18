"""The verdict statistics of chapter 8, against numbers worked out by hand."""

import numpy as np
import pytest

from bnlab.experiments import (
    Verdicts,
    acc_or_zero,
    compare,
    final_acc,
    mean_finite,
    mean_se,
    status,
    steps_to,
    sweep,
    trains,
    within,
)
from bnlab.training import History


def history(acc, diverged=False):
    acc = np.asarray(acc, dtype=float)
    return History(
        loss=np.zeros(3),
        eval_step=np.arange(len(acc)) * 10,
        val_loss=acc,
        val_acc=acc,
        diverged=diverged,
    )


class TestMeanSE:
    def test_hand_computed(self):
        # values 2, 4, 6: mean 4, sample std 2, SE 2/sqrt(3)
        m, se = mean_se([2.0, 4.0, 6.0])
        assert m == 4.0
        assert se == pytest.approx(2 / np.sqrt(3), rel=1e-15)

    @pytest.mark.parametrize("bad", [[1.0], [[1.0, 2.0]], []])
    def test_needs_two_values_1d(self, bad):
        with pytest.raises(ValueError, match="1-D with at least 2 entries"):
            mean_se(bad)

    def test_nan_refused(self):
        with pytest.raises(ValueError, match="must not contain NaN"):
            mean_se([1.0, np.nan, 2.0])


class TestCompare:
    def test_difference_and_se(self):
        # a: mean 11, SE 1/sqrt(3); b: mean 1, SE 0.2/sqrt(3)*... computed by hand below
        a, b = [10.0, 11.0, 12.0], [0.8, 1.0, 1.2]
        c = compare(a, b, factor=5)
        assert c.diff == pytest.approx(11 - 5 * 1.0)
        assert c.se == pytest.approx(np.sqrt((1 / 3) + 25 * (0.04 / 3)))
        assert c.verdict == "greater"

    def test_less_and_inside_noise(self):
        assert compare([1.0, 1.1, 0.9], [5.0, 5.1, 4.9]).verdict == "less"
        assert compare([1.0, 2.0, 3.0], [1.5, 2.5, 2.0]).verdict == "no measurable difference"

    def test_margin_is_k_standard_errors(self):
        # difference 1, SE exactly 1/sqrt(2)*sqrt(2)=... choose samples with SE 0.5 each
        a, b = [0.5, 1.5, 2.5, 3.5], [0.0, 1.0, 2.0, 3.0]  # diff 0.5, each SE = sqrt(5/3)/2
        se = np.hypot(*(2 * [np.std(a, ddof=1) / 2]))
        assert compare(a, b, k=0.5 / se * 0.99).verdict == "greater"
        assert compare(a, b, k=0.5 / se * 1.01).verdict == "no measurable difference"

    def test_str_names_the_verdict(self):
        assert "no measurable difference" in str(compare([1.0, 2.0], [1.0, 2.0]))


class TestTrimmed:
    """The trimmed comparison against a hand computation (sort, cut, winsorize by hand)."""

    @staticmethod
    def oracle(values, g):
        x = sorted(values)
        n, cut = len(x), int(g * len(values))
        kept = x[cut : n - cut]
        wins = [x[cut]] * cut + kept + [x[n - cut - 1]] * cut
        m_w = sum(wins) / n
        var_w = sum((v - m_w) ** 2 for v in wins) / (n - 1)
        return sum(kept) / len(kept), var_w**0.5 / (len(kept) / n * n**0.5)

    @pytest.mark.parametrize("n, g", [(5, 0.2), (10, 0.2), (10, 0.1), (20, 0.25), (7, 0.3)])
    def test_matches_a_hand_computation(self, n, g):
        rng = np.random.default_rng(n)
        a, b = rng.standard_cauchy(n), rng.normal(size=n)
        (ma, sa), (mb, sb) = self.oracle(list(a), g), self.oracle(list(b), g)
        assert mean_se(a, trim=g) == pytest.approx((ma, sa), rel=1e-12)
        c = compare(a, b, factor=2, trim=g)
        assert c.diff == pytest.approx(ma - 2 * mb, rel=1e-12)
        assert c.se == pytest.approx(np.sqrt(sa**2 + 4 * sb**2), rel=1e-12)

    def test_agrees_with_scipy_where_the_proportion_is_exact(self):
        from scipy.stats import trim_mean
        from scipy.stats.mstats import trimmed_stde

        x = np.random.default_rng(3).lognormal(size=10)
        m, se = mean_se(x, trim=0.2)
        assert m == pytest.approx(trim_mean(x, 0.2), rel=1e-14)
        assert se == pytest.approx(trimmed_stde(x, (0.2, 0.2)), rel=1e-12)

    def test_one_failed_run_does_not_decide(self):
        # four seeds train to ~0.96 with both networks; one seed of one network fails at 0.1
        a, b = [0.96, 0.97, 0.95, 0.96, 0.10], [0.95, 0.96, 0.96, 0.97, 0.95]
        assert not within(a, b, tol=0.05)  # the plain means: 0.17 apart in expectation
        assert within(a, b, tol=0.05, trim=0.2)
        assert "20% trimmed means" in str(compare(a, b, trim=0.2))

    def test_no_trim_is_the_plain_mean(self):
        a = [1.0, 2.0, 4.0, 8.0]
        assert mean_se(a, trim=0.0) == mean_se(a)
        assert mean_se(a, trim=0.2) == pytest.approx(mean_se(a), rel=1e-15)  # 0.2 * 4: none cut

    @pytest.mark.parametrize("bad", [-0.1, 0.5, 0.7])
    def test_trim_must_be_a_proportion_below_half(self, bad):
        with pytest.raises(ValueError, match=r"trim must be a proportion in \[0, 0.5\)"):
            mean_se([1.0, 2.0, 3.0], trim=bad)

    def test_trim_must_leave_two_values(self):
        with pytest.raises(ValueError, match="leaves fewer than 2 of 3 values"):
            mean_se([1.0, 2.0, 3.0], trim=0.34)


class TestWithin:
    def test_small_difference_is_within(self):
        assert within([0.95, 0.96, 0.97], [0.96, 0.95, 0.97], tol=0.05)

    def test_noisy_samples_are_not_within(self):
        # equal means but a spread so large that 3 SE exceed the tolerance
        assert not within([0.5, 0.9, 0.7], [0.7, 0.6, 0.8], tol=0.05)


class TestSummaries:
    def test_steps_to_uses_budget_when_never_reached(self):
        hs = [history([0.1, 0.5, 0.95]), history([0.1, 0.2, 0.3])]
        np.testing.assert_array_equal(steps_to(hs, 0.9, budget=99), [20.0, 99.0])

    def test_final_acc_nan_for_diverged(self):
        hs = np.array([[history([0.2, 0.8]), history([0.3], diverged=True)]], dtype=object)
        out = final_acc(hs)
        assert out.shape == (1, 2)
        assert out[0, 0] == 0.8 and np.isnan(out[0, 1])

    def test_status_trains_and_failed_runs_as_zero(self):
        done, stuck, gone = history([0.3, 0.9]), history([0.3, 0.89]), history([0.4], True)
        assert [status(h) for h in (done, stuck, gone)] == ["trained", "failed", "diverged"]
        np.testing.assert_array_equal(acc_or_zero([done, stuck, gone]), [0.9, 0.89, 0.0])
        assert not trains([done, done, stuck])  # mean 0.8967
        assert trains([done, history([0.2, 0.95]), stuck])  # mean 0.9133
        assert not trains([history([0.99]), history([0.99]), gone])  # a diverged run counts 0
        assert mean_finite([0.5, np.nan, 0.7]) == pytest.approx(0.6)
        assert np.isnan(mean_finite([np.nan, np.inf]))


class TestSweep:
    def test_grid_layout_and_bad_grid(self):
        import torch

        g = torch.Generator().manual_seed(0)
        X = torch.rand(60, 64, generator=g)
        y = torch.randint(0, 10, (60,), generator=g)
        out = sweep(
            (X, y, X, y),
            "bn",
            seeds=[3, 4],
            steps=4,
            init_scale=np.array([0.5, 2.0]),
            batch_size=10,
            depth=2,
            width=8,
        )
        assert out.histories.shape == (2, 2)
        assert out.grid.tolist() == [0.5, 2.0]
        w = out.member(1, 0)[0].weight
        assert w.shape == (8, 64)
        with pytest.raises(ValueError, match="at most one of lr and init_scale"):
            sweep(
                (X, y, X, y),
                "bn",
                seeds=[0],
                steps=1,
                lr=np.array([0.1, 0.2]),
                init_scale=np.array([1.0, 2.0]),
            )


class TestVerdicts:
    def test_strict_raises_with_the_claim(self, capsys):
        v = Verdicts()
        with pytest.raises(AssertionError, match="no longer support: x beats y"):
            v.check("x beats y", False, "x 1, y 2")
        assert "FAIL x beats y" in capsys.readouterr().out

    def test_lenient_records(self, capsys):
        v = Verdicts(strict=False)
        v.check("claim", False)
        assert v.results == {"claim": (False, "")}
        assert capsys.readouterr().out.startswith("FAIL claim")


def test_interval_is_k_standard_errors_around_the_mean():
    from bnlab.experiments import interval

    # values 2, 4, 6: mean 4, SE 2/sqrt(3)
    low, high = interval([2.0, 4.0, 6.0], k=3)
    assert (low, high) == pytest.approx((4 - 6 / np.sqrt(3), 4 + 6 / np.sqrt(3)))
