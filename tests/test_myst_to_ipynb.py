"""course.myst_to_ipynb on a two-chapter book written here, one construct at a time."""

import textwrap

import pytest

from course.myst_to_ipynb import Book, Converter, MystError

SITE = "https://example.org/course/"
HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""
CHAPTER_1 = """
(ch-one)=
# One

(sec-mean)=
## The mean

```{math}
:label: eq-mean
\\mu = \\frac1m \\sum_i x_i
```

```{code-cell} ipython3
---
mystnb:
  figure:
    caption: A figure of {eq}`eq-mean`.
    name: fig-one
---
print(1)
```
"""
CHAPTER_2 = """
# Two

```{math}
:label: eq-two
a \\\\ b
```
"""
BIB = """@article{ioffe2015batch, author = {Ioffe, Sergey and Szegedy, Christian},
  title = {Batch normalization}, journal = {ICML}, year = {2015}}
@article{santurkar2018how, author = {Santurkar, S. and Tsipras, D. and Ilyas, A.},
  title = {How does BN help}, journal = {NeurIPS}, year = {2018}}
"""


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    (root / "_config.yml").write_text(
        "bibtex_bibfiles: [references.bib]\n"
        "parse:\n  myst_enable_extensions: [colon_fence, dollarmath, amsmath]\n"
    )
    (root / "references.bib").write_text(BIB)
    (root / "chapters").mkdir()
    (root / "chapters" / "01_one.md").write_text(HEADER + CHAPTER_1)
    (root / "chapters" / "02_two.md").write_text(HEADER + CHAPTER_2)
    (root / "src").mkdir()
    (root / "src" / "mod.py").write_text("def f(x):\n    return x\n\n\ndef g():\n    pass\n")
    return Book(root, SITE)


def convert(book, text, doc="chapters/02_two"):
    return Converter(book, doc).markdown(textwrap.dedent(text))


class TestReferences:
    def test_ref_is_the_title_linked_to_the_site(self, book):
        assert convert(book, "See {ref}`sec-mean`.") == (
            f"See [The mean]({SITE}chapters/01_one.html#sec-mean)."
        )

    def test_ref_with_explicit_text(self, book):
        assert convert(book, "{ref}`this <ch-one>`") == f"[this]({SITE}chapters/01_one.html#ch-one)"

    def test_eq_is_the_number_of_the_site(self, book):
        assert convert(book, "{eq}`eq-two`") == (
            f"[(2.1)]({SITE}chapters/02_two.html#equation-eq-two)"
        )

    def test_numref_of_a_figure(self, book):
        assert convert(book, "{numref}`fig-one`").startswith("[Fig. 1.1](")

    def test_doc_is_the_chapter_title(self, book):
        assert convert(book, "{doc}`01_one`") == f"[One]({SITE}chapters/01_one.html)"

    def test_role_in_inline_code_is_left_alone(self, book):
        assert convert(book, "Write `` {eq}`label` `` for it.") == "Write `` {eq}`label` `` for it."

    def test_unknown_label_raises(self, book):
        with pytest.raises(MystError, match="unknown label 'nope'"):
            convert(book, "{ref}`nope`")


class TestCitations:
    def test_author_year(self, book):
        converter = Converter(book, "chapters/02_two")
        assert converter.markdown("{cite}`ioffe2015batch`") == "(Ioffe and Szegedy, 2015)"
        assert converter.markdown("{cite:t}`santurkar2018how`") == "Santurkar et al. (2018)"
        assert converter.cited == ["ioffe2015batch", "santurkar2018how"]

    def test_references_cell_lists_each_entry(self, book):
        cell = book.references_cell(["santurkar2018how", "ioffe2015batch"])
        lines = cell.source.splitlines()
        assert lines[0] == "## References"
        assert lines[2].startswith("- **Ioffe and Szegedy 2015**")
        assert lines[3].startswith("- **Santurkar et al. 2018**")


class TestBlocks:
    def test_target_disappears(self, book):
        assert convert(book, "(sec-x)=\n## X\n") == "## X"

    def test_math_is_tagged_and_split_as_on_the_site(self, book):
        text = "```{math}\n:label: eq-two\na \\\\ b\n```\n"
        assert convert(book, text) == "$$\n\\begin{split}a \\\\ b\\end{split}\\tag{2.1}\n$$"

    def test_dropdown_becomes_details_with_the_question_as_summary(self, book):
        text = "::::{dropdown} 1. Is `x` $a<b$?\nYes, see {eq}`eq-two`.\n::::\n"
        out = convert(book, text)
        assert out.startswith("<details>\n<summary>1. Is <code>x</code> $a&lt;b$?</summary>\n\n")
        assert "Yes, see [(2.1)](" in out
        assert out.endswith("\n\n</details>")

    def test_dropdown_in_a_list_item_stays_in_it(self, book):
        text = "1. Question?\n\n   ```{dropdown} Answer\n   No.\n   ```\n"
        assert convert(book, text) == (
            "1. Question?\n\n   <details>\n   <summary>Answer</summary>\n\n   No.\n\n   </details>"
        )

    def test_admonition_becomes_a_titled_blockquote(self, book):
        text = "```{admonition} The bug\n:class: warning\nIt bites.\n```\n"
        assert convert(book, text) == "> **The bug**\n>\n> It bites."

    def test_warning_is_titled_by_its_kind(self, book):
        assert convert(book, "```{warning}\nCareful.\n```\n") == "> **Warning**\n>\n> Careful."

    def test_literalinclude_is_the_code(self, book):
        text = "```{literalinclude} ../src/mod.py\n:pyobject: g\n```\n"
        assert convert(book, text) == "```python\ndef g():\n    pass\n```"

    def test_unknown_directive_raises(self, book):
        with pytest.raises(MystError, match="epigraph"):
            convert(book, "```{epigraph}\nQuote.\n```\n")


def test_glue_is_the_name_or_the_value(book):
    assert Converter(book, "chapters/02_two").markdown("{glue:text}`r:.2f`") == "`r`"
    glued = Converter(book, "chapters/02_two", glue={"r": "1.23456"})
    assert glued.markdown("took {glue:text}`r:.2f` times") == "took 1.23 times"
