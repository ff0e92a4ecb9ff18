"""Kernel text in the grader's reports (fast, no kernel): escaped, bounded, and withheld once a
kernel has seen a hidden test's inputs."""

import numpy as np
import pytest

from course.grading import judge, referee, wire
from course.grading.session import raised
from course.grading.text import LIMIT, clean


@pytest.mark.parametrize(
    "text", ["a\nb", "a\rb", "a\x1b[2Jb", "a\u2028b", "a\u2029b", "a\x85b", "a\tb", "a\x00b"]
)
def test_no_character_of_the_kernel_starts_a_line_or_moves_the_cursor(text):
    out = clean(text)
    assert out.isprintable() and out.startswith("a") and out.endswith("b"), out
    assert len(out.splitlines()) == 1


def test_kernel_text_is_cut_to_the_bound():
    out = clean("x" * 4_000_000)
    assert len(out) < LIMIT + 100 and "4000000 characters" in out
    assert len(clean("\n" * 10_000)) < LIMIT + 100  # escaping cannot grow it past the bound


def test_a_handle_type_name_is_an_identifier_or_nothing():
    forged = "x\n  27.0 /  27.0  total"
    value = wire.decode({"$remote": 1, "type": forged}, lambda h, t: t)
    assert value == "object"
    assert wire.decode({"$remote": 1, "type": "Batch"}, lambda h, t: t) == "Batch"


def test_a_learners_exception_is_named_by_its_builtin_base():
    exc = raised("Leak_1_2_3", "the inputs were ...", ["ValueError", "Exception"])
    assert exc.builtin_name == "ValueError" and isinstance(exc, ValueError)
    assert "\n" not in str(raised("E", "a\nb"))


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


def test_a_tainted_kernels_words_never_reach_the_verdict():
    source = "x = 1\n### BEGIN HIDDEN TESTS\nf(x)\n### END HIDDEN TESTS\n"
    exc = raised("Leak", "hidden input 0.123", ["ValueError"])
    assert "0.123" in judge._explain(exc, source, "t", tainted=False)
    said = judge._explain(exc, source, "t", tainted=True)
    assert "0.123" not in said and "Leak" not in said and "ValueError" in said
    plain = judge._explain(AssertionError("got 0.123"), source, "t", tainted=True)
    assert "0.123" not in plain
