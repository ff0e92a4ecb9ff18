"""Build checks on the book's Markdown sources: what renders wrong without any error.

Each rule is one a review found broken in the built book: a TAB where ``\\t`` of ``\\text``
was meant, ``\\_`` shown with its backslash inside ``\\text``, "Santurkar et al. [Santurkar et
al., 2018]" (the name twice), and "8.3. 1. The same network" (a hand number under the
book's, in the chapters, which _toc.yml numbers).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    [*ROOT.glob("chapters/*.md"), *ROOT.glob("pages/*.md"), ROOT / "intro.md"],
    key=lambda p: str(p),
)
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # every C0 control and DEL, except newline
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$(?!\$)")
MATH_BLOCK = re.compile(r"^```\{math\}\n(.*?)^```|^\$\$(.*?)\$\$", re.M | re.S)
TEXT_ARG = re.compile(r"\\(?:text|textrm|textit|textbf|mbox)\{([^{}]*)\}")
NAMED_CITE = re.compile(r"(et al\.|[A-Z][a-z]+,? and [A-Z][\w]+)\s*\{cite\}`")
NUMBERED_HEADING = re.compile(r"^#{2,6} +\d+(\.\d+)*\. +\S", re.M)


def ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def math_spans(text):
    """Every piece of math in a MyST page: inline ``$...$``, ``$$...$$`` and {math} blocks."""
    spans = [m.group(1) or m.group(2) for m in MATH_BLOCK.finditer(text)]
    prose = MATH_BLOCK.sub("", text)
    prose = re.sub(r"^```.*?^```", "", prose, flags=re.M | re.S)  # code cells hold no math
    return spans + [m.group(1) for line in prose.splitlines() for m in INLINE_MATH.finditer(line)]


def line_of(text, index):
    return text.count("\n", 0, index) + 1


class TestRules:
    """The rules themselves, on small inputs: each catches its case and passes the fixed one."""

    def test_control_character_found(self):
        assert CONTROL.search("$|\text{skewness}|$")
        assert not CONTROL.search("$|\\text{skewness}|$\n")

    def test_math_spans(self):
        text = "a $x_1$ and\n$$y$$\n```{math}\n:label: e\nz\n```\n```python\nc = '$a$'\n```\n"
        spans = math_spans(text)
        assert "x_1" in spans and "y" in spans and any("z" in s for s in spans)
        assert "a" not in spans

    def test_escaped_underscore_in_text(self):
        assert TEXT_ARG.search(r"\text{init\_scale}").group(1) == r"init\_scale"

    def test_named_citation(self):
        assert NAMED_CITE.search("Santurkar et al. {cite}`s`")
        assert NAMED_CITE.search("Ioffe and Szegedy {cite}`i`")
        assert not NAMED_CITE.search("{cite:t}`s` showed, as others did {cite}`i`")

    def test_numbered_heading(self):
        assert NUMBERED_HEADING.search("## 1. The same network")
        assert not NUMBERED_HEADING.search("## The same network\n## 1000 steps")


@pytest.mark.parametrize("path", SOURCES, ids=ids(SOURCES))
class TestSources:
    def test_no_control_characters(self, path):
        text = path.read_text(encoding="utf-8")
        found = [(line_of(text, m.start()), repr(m.group())) for m in CONTROL.finditer(text)]
        assert not found, f"{path.name}: control characters (line, char) {found}"

    def test_math_has_no_control_characters_or_escaped_text(self, path):
        bad = []
        for span in math_spans(path.read_text(encoding="utf-8")):
            if CONTROL.search(span.replace("\n", "")):
                bad.append(f"control character in {span!r}")
            bad += [f"\\_ inside \\text in {span!r}" for t in TEXT_ARG.findall(span) if "\\_" in t]
        assert not bad, f"{path.name}: " + "; ".join(bad)

    def test_no_author_named_twice(self, path):
        text = path.read_text(encoding="utf-8")
        found = [line_of(text, m.start()) for m in NAMED_CITE.finditer(text)]
        assert not found, (
            f"{path.name}, lines {found}: the authors are named before a parenthetical citation "
            "that names them again; use {cite:t}"
        )


CHAPTERS = sorted(ROOT.glob("chapters/*.md"))


@pytest.mark.parametrize("path", CHAPTERS, ids=ids(CHAPTERS))
def test_chapter_headings_carry_no_hand_numbers(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    found = [m.group() for m in NUMBERED_HEADING.finditer(text)]
    assert not found, f"{path.name}: the book numbers sections itself, found {found}"
