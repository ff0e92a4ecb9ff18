"""course.grading.referee: the trusted comparisons of a learner's answers with the reference."""

import numpy as np
import pytest

from course.grading import referee


class TestReferee:
    def test_agreeing_function_passes(self):
        rng = np.random.default_rng(0)
        cases = [(rng.normal(size=(7, 3)),), (rng.normal(size=(5,)).astype(np.float32),)]
        referee.agree(lambda x: ((x - x.mean(0)) ** 2).mean(0), "bnlab.moments.var", cases)

    def test_wrong_ddof_and_wrong_dtype_fail(self):
        x = np.random.default_rng(1).normal(size=(6, 2))
        with pytest.raises(AssertionError, match="relative error"):
            referee.agree(lambda x: x.var(0, ddof=1), "bnlab.moments.var", [(x,)])
        with pytest.raises(AssertionError, match="dtype float64, expected float32"):
            referee.agree(
                lambda x: x.astype(np.float64).var(0),
                "bnlab.moments.var",
                [(x.astype(np.float32),)],
            )

    def test_expected_error_must_be_raised(self):
        with pytest.raises(AssertionError, match="expected ValueError"):
            referee.agree(lambda x: x.var(0), "bnlab.moments.var", [((np.ones(3),), {"ddof": 3})])

    def test_output_objects_are_not_unpickled(self, tmp_path):
        """A learner's output whose unpickling would create a file: the file never appears."""
        marker = tmp_path / "unpickled"

        class Evil(np.ndarray):
            def __reduce__(self):
                return (open, (str(marker), "w"))

        x = np.ones((3, 1))
        # an ndarray subclass is converted to a plain array; no pickle crosses the channel
        referee.agree(lambda x: np.zeros(1).view(Evil), "bnlab.moments.var", [(x,)])
        assert not marker.exists()


class TestExpectChoice:
    def test_right_choice_ignores_case_and_spaces(self):
        assert referee.expect_choice(" b ", "B") is None

    def test_wrong_choice_fails(self):
        with pytest.raises(AssertionError, match="'A' is not the right choice"):
            referee.expect_choice("A", "B")

    def test_string_subclass_cannot_fake_equality(self):
        class Liar(str):
            def __eq__(self, other):
                return True

        with pytest.raises(AssertionError, match="must be a string"):
            referee.expect_choice(Liar("A"), "B")


class TestExpectNumber:
    def test_right_number_passes(self):
        assert referee.expect_number(0.5, 0.5) is None

    def test_wrong_number_fails(self):
        with pytest.raises(AssertionError, match="0.25 is not right"):
            referee.expect_number(0.25, 0.5)

    def test_non_number_fails(self):
        with pytest.raises(AssertionError, match="must be a number, got str"):
            referee.expect_number("0.5", 0.5)


def test_the_referees_safe_message_holds_nothing_of_the_learners():
    secret = "SECRET"

    def student(x):
        raise ValueError(secret + repr(x.tolist()))

    with pytest.raises(referee.RefereeError) as info:
        referee.agree(student, "bnlab.moments.var", [(np.arange(3.0),)])
    assert secret in str(info.value) and secret not in info.value.safe
    with pytest.raises(referee.RefereeError) as info:
        referee.agree(lambda x: np.zeros((7, 9)), "bnlab.moments.var", [(np.ones((4, 2)),)])
    assert "(7, 9)" in str(info.value) and "(7, 9)" not in info.value.safe
    with pytest.raises(referee.RefereeError) as info:
        referee.expect_choice(secret, "B")
    assert secret not in info.value.safe


def test_a_case_is_described_by_kind_never_by_value():
    with pytest.raises(referee.RefereeError) as info:
        referee.agree(lambda x, ddof=0: x.var(0), "bnlab.moments.var", [(np.ones((4, 2)), 3)])
    assert "float64 array of shape (4, 2), a int" in str(info.value)
