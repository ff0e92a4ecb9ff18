"""course.chapter_times: reading at 120 words a minute, 1.5 minutes a code cell, rounded up to 5."""

import pytest

from course.chapter_times import chapter_time, chapter_times_table


def _chapter(path, words, code_cells):
    cells = ["# A title\n\n" + " ".join(["word"] * (words - 3))]  # "#", "A", "title": 3 words
    cells += ["```python\nx = 1\n```"] * code_cells
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(cells) + "\n")
    return path


@pytest.mark.parametrize(
    ("words", "code_cells", "minutes"),
    [(1200, 0, 10), (1200, 1, 15), (1199, 0, 10), (1320, 0, 15), (30, 1, 5), (30, 0, 5)],
)
def test_minutes_are_rounded_up_to_five(tmp_path, words, code_cells, minutes):
    path = _chapter(tmp_path / "01_x.md", words, code_cells)
    assert chapter_time(path) == ("A title", minutes)


def test_the_table_lists_every_chapter_with_a_link(tmp_path):
    _chapter(tmp_path / "chapters" / "02_b.md", 1200, 1)
    _chapter(tmp_path / "chapters" / "01_a.md", 30, 0)
    assert chapter_times_table(tmp_path, prefix="/").splitlines() == [
        "| Chapter | About |",
        "|---|---|",
        "| {doc}`A title </chapters/01_a>` | 5 min |",
        "| {doc}`A title </chapters/02_b>` | 15 min |",
    ]
