"""bnlab.check: the messages of the visible tests. Expectations are written by hand."""

import numpy as np
import pytest

from bnlab.check import (
    CheckError,
    expect_array,
    expect_close,
    expect_equal,
    expect_one_of,
    expect_true,
    expect_tuple,
    expect_type,
    explain,
)


def message(fn, *args, **kwargs):
    with pytest.raises(CheckError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, AssertionError)
    return str(info.value)


class TestExpectClose:
    def test_passes_within_tolerance(self):
        expect_close(np.array([1.0, 2.0 + 1e-9]), [1.0, 2.0], "f(x)")
        expect_close(np.float32(0.5), 0.5, "f(x)", dtype=np.float32)

    def test_values_message(self):
        got = np.array([[1.0, 2.0], [3.0, 10.0]])
        text = message(expect_close, got, np.array([[1.0, 2.0], [3.0, 4.0]]), "g(x), x (2, 2)",
                       hint="look at the last row")  # fmt: skip
        assert text.splitlines()[0] == "g(x), x (2, 2): values differ"
        assert "expected: float64 array of shape (2, 2)" in text
        assert "got:      float64 array of shape (2, 2)" in text
        assert "largest absolute error: 6 at [1, 1] (got 10, expected 4)" in text
        assert "largest relative error: 1.5 at [1, 1]" in text
        assert "1 of 4 values outside it" in text
        assert text.splitlines()[-1].strip() == "hint: look at the last row"

    def test_reveal_false_hides_expected_values(self):
        exp = np.array([0.123456, 0.654321, 0.5])
        text = message(expect_close, exp + 0.25, exp, "hidden case 3", reveal=False)
        assert "0.123456" not in text and "0.654321" not in text and "expected 0.5" not in text
        assert "largest absolute error: 0.25" in text

    def test_ratio_and_offset_patterns(self):
        exp = np.array([3.0, 6.0, 9.0])
        assert "every value is about 1.5 times the expected one" in message(
            expect_close, exp * 1.5, exp, "var(x, ddof=1)"
        )
        assert "off by about the same amount, -2" in message(expect_close, exp - 2, exp, "y")
        assert "times" not in message(expect_close, np.array([3.0, 6.0, 10.0]), exp, "y")
        assert "every value is about 0.5 times" in message(expect_close, 1.0, 2.0, "one value")
        both = message(expect_close, np.full(3, 0.9), np.ones(3), "mean squares")
        assert "about 0.9 times" in both and "off by about the same amount, -0.1" in both

    @pytest.mark.parametrize(
        "got, first, detail",
        [
            (np.ones(3), "wrong shape", "got:      float64 array of shape (3,)"),
            (np.ones((3, 1)), "wrong dtype", "float32 in, float32 out"),
            (None, "expected a number or array, got None", "expected: float32 array"),
            ("1.0", "expected a number or array, got str '1.0'", "shape (3, 1)"),
        ],
    )
    def test_shape_dtype_and_non_numbers(self, got, first, detail):
        text = message(expect_close, got, np.ones((3, 1), np.float32), "f(x)", dtype=np.float32)
        assert text.splitlines()[0] == f"f(x): {first}"
        assert detail in text

    def test_nan(self):
        text = message(expect_close, np.array([1.0, np.nan, np.nan]), np.ones(3), "f(x)")
        assert "2 of 3 values are NaN, the first at [1]" in text

    def test_scalars_read_as_numbers(self):
        text = message(expect_close, 3.0, 3.5, "E[X]", rtol=0, atol=1e-12)
        assert "expected: float64 number" in text and "(got 3, expected 3.5)" in text
        assert "tolerance: |got - expected| <= 1e-12 + 0 * |expected|" in text

    def test_explain_returns_lines_or_none(self):
        assert explain(np.ones(2), np.ones(2)) is None
        assert explain(np.ones(2), np.zeros(2))[0] == "values differ"


class TestOtherChecks:
    def test_expect_array(self):
        expect_array(np.zeros(3, np.float32), "f", shape=(3,), dtype=np.float32)
        text = message(expect_array, np.zeros((3, 1)), "f(x)", shape=(3,))
        assert "expected: numeric array of shape (3,)" in text
        assert "got:      float64 array of shape (3, 1)" in text
        assert "wrong dtype" in message(expect_array, np.zeros(3), "f", dtype=np.float32)
        assert "got tuple of 2" in message(expect_array, ([1], "a"), "f", shape=(1,))

    def test_expect_equal(self):
        expect_equal(np.arange(3), [0, 1, 2], "idx")
        assert message(expect_equal, 3, 4, "n") == "n: expected 4, got 3"
        text = message(expect_equal, np.array([1, 5, 7]), np.array([1, 2, 3]), "v")
        assert "2 of 3 values differ, the first at [1] (got 5, expected 2)" in text
        assert "largest absolute difference: 4 at [2]" in text

    def test_types_tuples_choices(self):
        assert (
            message(expect_type, 1, float, "std_ratio") == "std_ratio: expected a float, got int 1"
        )
        assert "expected a tuple of 3 results, got float64 array of shape (2,)" in message(
            expect_tuple, np.ones(2), 3, "welford(x)"
        )
        text = message(expect_one_of, "b", "ABCD", "answer_q1")
        assert "expected one of 'A', 'B', 'C', 'D', got str 'b'" in text
        assert 'answer_q1 = "A"' in text
        assert "got int 2" in message(expect_one_of, 2, "ABCD", "q")
        text = message(expect_true, False, "f(16) > f(8)", expected="more", got="3 and 5")
        assert text == "f(16) > f(8): expected more\n    got:      3 and 5"
