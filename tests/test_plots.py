"""bnlab.plots: what the figures of chapter 8 draw, read back from the matplotlib artists."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bnlab.experiments import Sweep  # noqa: E402
from bnlab.plots import band, longest, pad, plot_sweep, smooth  # noqa: E402
from bnlab.training import History  # noqa: E402


def history(val_acc, diverged=False):
    steps = [10 * i for i in range(len(val_acc))]
    return History(
        loss=np.ones(len(val_acc)),
        eval_step=np.array(steps),
        val_loss=np.ones(len(val_acc)),
        val_acc=np.array(val_acc, dtype=float),
        diverged=diverged,
    )


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_pad_and_its_bad_input():
    got = pad([[1.0, 2.0], [3.0, 4.0, 5.0]])
    np.testing.assert_array_equal(got, [[1.0, 2.0, np.nan], [3.0, 4.0, 5.0]])
    with pytest.raises(ValueError, match="non-empty sequence of 1-D arrays"):
        pad([])
    with pytest.raises(ValueError, match="non-empty sequence of 1-D arrays"):
        pad([[[1.0]]])


def test_smooth_is_a_running_mean():
    np.testing.assert_allclose(smooth(np.arange(6.0), k=3), [1.0, 2.0, 3.0, 4.0])


def test_band_mean_skips_a_run_that_ended_early(ax):
    # two runs: the second diverged after two evaluations
    band(ax, np.array([0, 10, 20, 30]), [[0.1, 0.5, 0.9, 0.95], [0.3, 0.7]], "k", "net")
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [0, 10, 20, 30])
    np.testing.assert_allclose(line.get_ydata(), [0.2, 0.6, 0.9, 0.95])
    (fill,) = ax.collections
    lows_highs = fill.get_paths()[0].vertices[:, 1]
    assert lows_highs.min() == pytest.approx(0.1) and lows_highs.max() == pytest.approx(0.95)
    assert line.get_label() == "net"


def test_longest_is_the_run_that_lasted():
    hs = [history([0.1, 0.2]), history([0.1, 0.2, 0.3, 0.4]), history([0.5])]
    np.testing.assert_array_equal(longest(hs), [0, 10, 20, 30])


def test_plot_sweep_dots_means_and_crosses(ax):
    lrs = np.array([0.1, 1.0])
    hist = np.empty((2, 2), dtype=object)
    hist[0] = [history([0.2, 0.8]), history([0.2, 0.9])]
    hist[1] = [history([0.2, 0.96]), history([0.3], diverged=True)]
    plot_sweep(ax, lrs, {"bn": Sweep(None, hist, lrs)}, {"bn": "C0"}, {"bn": "BatchNorm"})
    dots, mean, crosses, threshold = ax.get_lines()
    np.testing.assert_allclose(dots.get_xdata(), [0.1, 0.1, 1.0, 1.0])
    np.testing.assert_allclose(dots.get_ydata(), [0.8, 0.9, 0.96, np.nan])
    np.testing.assert_allclose(mean.get_ydata(), [0.85, 0.96])  # the diverged run left out
    np.testing.assert_allclose(crosses.get_xdata(), [1.0])  # a cross where a run diverged
    assert threshold.get_ydata()[0] == 0.9
    assert ax.get_xscale() == "log" and mean.get_label() == "BatchNorm"


def test_plot_sweep_refuses_a_grid_of_another_length(ax):
    hist = np.empty((1, 1), dtype=object)
    hist[0, 0] = history([0.5])
    with pytest.raises(ValueError, match="sweep 'bn' has 1 grid points, xs has 2"):
        plot_sweep(ax, [0.1, 1.0], {"bn": Sweep(None, hist, [0.1])}, {"bn": "C0"}, {"bn": "B"})
