"""course.chapter_format: the chapters' code formatted to the 80-character column, meaning kept."""

import pytest

from course import chapter_format as cf

LONG = "result = some_function(first_argument, second_argument, third_argument, fourth_one)"
CHAPTER = f"""# A chapter

```{{code-cell}} ipython3
{LONG}
```

Prose with a `code-cell` word.

```{{code-cell}} ipython3
:tags: [remove-output]

x = [1,2,3];
```
"""


def test_long_lines_wrap_and_the_rest_stays(tmp_path):
    text = cf.formatted_chapter(CHAPTER)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= cf.LINE_LENGTH
    assert "Prose with a `code-cell` word." in text
    assert ":tags: [remove-output]" in text
    assert "x = [1, 2, 3];" in text  # the last line's semicolon (no output shown) stays
    assert cf.formatted_chapter(text) == text


def test_check_fails_on_an_unformatted_chapter(tmp_path):
    (tmp_path / "chapters").mkdir()
    path = tmp_path / "chapters" / "01_x.md"
    path.write_text(CHAPTER)
    assert cf.main(["--check", str(path)]) == 1
    assert path.read_text() == CHAPTER
    assert cf.main([str(path)]) == 0
    assert cf.main(["--check", str(path)]) == 0


def test_long_figure_code_folds_away():
    code = "fig, ax = plt.subplots()\n" + "ax.plot([0, 1])\n" * cf.LONG_CODE
    head = "```{code-cell} ipython3\n---\nmystnb:\n  figure:\n    name: fig-x\n---\n"
    folded = cf._fold_long_figure_code(head, code)
    assert folded.endswith("tags: [hide-input]\n---\n")
    assert cf._fold_long_figure_code(":tags: [remove-output]\n", code).endswith(
        "[remove-output, hide-input]\n"
    )
    assert cf._fold_long_figure_code(head, "fig = 1\n") == head


def test_a_change_of_meaning_is_refused(monkeypatch):
    real = cf.ast.parse
    calls = iter(range(10))
    monkeypatch.setattr(cf.ast, "parse", lambda s: real("a" if next(calls) % 2 else "b"))
    with pytest.raises(RuntimeError, match="would change the meaning"):
        cf.format_cells(["x = 1"])
