"""course.grading.feedback: what of a test cell the feedback shows."""

from course.grading import feedback


def test_strip_hidden():
    src = "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nsecret = 42\n### END HIDDEN TESTS\nok()"
    out = feedback.strip_hidden(src)
    assert "secret" not in out and "assert f(1) == 1" in out and "ok()" in out
