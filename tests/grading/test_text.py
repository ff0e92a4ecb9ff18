"""course.grading.text: kernel text in the grader's reports, escaped and bounded (no kernel)."""

import pytest

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
