"""course.grading.session: a learner's exception as the trusted side rebuilds it (no kernel)."""

from course.grading.session import raised


def test_a_learners_exception_is_named_by_its_builtin_base():
    exc = raised("Leak_1_2_3", "the inputs were ...", ["ValueError", "Exception"])
    assert exc.builtin_name == "ValueError" and isinstance(exc, ValueError)
    assert "\n" not in str(raised("E", "a\nb"))
