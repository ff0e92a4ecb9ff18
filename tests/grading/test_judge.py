"""course.grading.judge: a tainted kernel's words never reach a verdict (no kernel)."""

from course.grading import judge
from course.grading.session import raised


def test_a_tainted_kernels_words_never_reach_the_verdict():
    source = "x = 1\n### BEGIN HIDDEN TESTS\nf(x)\n### END HIDDEN TESTS\n"
    exc = raised("Leak", "hidden input 0.123", ["ValueError"])
    assert "0.123" in judge._explain(exc, source, "t", tainted=False)
    said = judge._explain(exc, source, "t", tainted=True)
    assert "0.123" not in said and "Leak" not in said and "ValueError" in said
    plain = judge._explain(AssertionError("got 0.123"), source, "t", tainted=True)
    assert "0.123" not in plain
