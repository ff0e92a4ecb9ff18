"""The notebook forms (notebooks/) read in Jupyter as the chapters read on the website.

Each expectation comes from the chapters' MyST sources by rules of this file (regular
expressions on the source, ``inspect`` on the package), never from ``course.myst_to_ipynb``.
"""

import html.parser
import importlib
import inspect
import os
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from course import notebook_forms as cn
from course.publish import read_address

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = cn.chapter_sources(ROOT)
IDS = [p.stem for p in CHAPTERS]

# What MyST syntax looks like, whatever a converter does with it.
ROLE = re.compile(r"\{[A-Za-z][\w:.+-]*\}`")
DIRECTIVE = re.compile(r"^[\s>]*(`{3,}|~{3,}|:{3,})\s*\{", re.M)
TARGET = re.compile(r"^[\s>]*\([^()\s]+\)=\s*$", re.M)
OPTION = re.compile(r"^[\s>]*:[\w-]+:(\s|$)", re.M)
BLOCK_BREAK = re.compile(r"^\+\+\+", re.M)
CODE_FENCE = re.compile(r"^[ \t>]*(`{3,}|~{3,})[^`{\n]*\n.*?^[ \t>]*\1\s*$", re.M | re.S)
DROPDOWN = re.compile(r"^\s*(?:`{3,}|:{3,})\{dropdown\}\s*(.*)$", re.M)
LITERALINCLUDE = re.compile(
    r"^\s*`{3,}\{literalinclude\}\s*\.\./src/(\S+)\.py\n(?:.*\n)*?\s*:pyobject:\s*(\S+)", re.M
)
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def markdown_of(notebook):
    nb = nbformat.read(notebook, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def form_of(chapter):
    return ROOT / cn.notebook_path(chapter)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
class TestNoMystSyntax:
    def test_no_role(self, chapter):
        left = [m for s in markdown_of(form_of(chapter)) for m in ROLE.findall(s)]
        assert not left

    def test_no_directive_target_or_break(self, chapter):
        for source in markdown_of(form_of(chapter)):
            for rule in (DIRECTIVE, TARGET, BLOCK_BREAK):
                assert not rule.search(source), source[:300]

    def test_no_directive_option_outside_code(self, chapter):
        for source in markdown_of(form_of(chapter)):
            prose = CODE_FENCE.sub("", source)
            assert not OPTION.search(prose), prose[:300]

    def test_no_build_tool_imported(self, chapter):
        code = "\n".join(c.source for c in jupytext.read(chapter).cells if c.cell_type == "code")
        for tool in ("myst_nb", "myst_parser", "sphinx", "jupyter_book", "course"):
            assert not re.search(rf"^\s*(from|import)\s+{tool}\b", code, re.M), tool


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
class TestFaithful:
    def test_included_code_is_the_package_source(self, chapter):
        text = "\n".join(markdown_of(form_of(chapter)))
        for module, name in LITERALINCLUDE.findall(chapter.read_text()):
            obj = importlib.import_module(module.replace("/", "."))
            for part in name.split("."):
                obj = getattr(obj, part)
            assert inspect.getsource(obj).rstrip() in text, f"{module}.{name}"

    def test_citations_are_author_year_with_a_bibliography(self, chapter):
        keys = {k.strip() for m in CITE.findall(chapter.read_text()) for k in m.split(",")}
        cells = markdown_of(form_of(chapter))
        text = re.sub(r"https?://\S+", "", "\n".join(cells).replace("\\", ""))
        for key in keys:
            assert key not in text, key
        if keys:
            assert cells[-1].startswith("## References")
            assert len(re.findall(r"^- ", cells[-1], re.M)) == len(keys)

    def test_every_figure_caption_is_a_cell_under_its_figure(self, chapter):
        nb = nbformat.read(form_of(chapter), as_version=4)
        captions = [
            c.metadata["mystnb"]["figure"]["caption"]
            for c in jupytext.read(chapter).cells
            if c.cell_type == "code" and "caption" in c.metadata.get("mystnb", {}).get("figure", {})
        ]
        under = [
            b.source
            for a, b in zip(nb.cells, nb.cells[1:], strict=False)
            if a.cell_type == "code" and b.cell_type == "markdown" and b.source.startswith("**Fig.")
        ]
        assert len(under) == len(captions)
        for caption, cell in zip(captions, under, strict=True):
            first_words = " ".join(caption.split()[:4])
            assert first_words in " ".join(cell.split())

    def test_links_go_to_the_website(self, chapter):
        site = read_address(ROOT).site
        links = re.findall(r"\]\((https?://[^)\s]+)\)", "\n".join(markdown_of(form_of(chapter))))
        ours = [link for link in links if link.startswith(site)]
        assert ours, "no link to the website"
        for link in ours:
            page = link.removeprefix(site).split("#")[0].removesuffix(".html")
            if page.startswith("exercise_pages/"):  # made at build time from exercises/
                source = ROOT / "exercises" / f"{page.removeprefix('exercise_pages/')}.ipynb"
            else:
                source = ROOT / f"{page}.md"
            assert source.is_file(), link


class _Visible(html.parser.HTMLParser):
    """Text a reader sees with every <details> closed: its <summary>, and what is outside."""

    def __init__(self):
        super().__init__()
        self.depth, self.summary, self.visible, self.folded = 0, 0, [], []

    def handle_starttag(self, tag, attrs):
        self.depth += tag == "details"
        self.summary += tag == "summary"

    def handle_endtag(self, tag):
        self.depth -= tag == "details"
        self.summary -= tag == "summary"

    def handle_data(self, data):
        (self.visible if self.depth == 0 or self.summary else self.folded).append(data)


def _words(text):
    return " ".join(re.sub(r"[`*_$\\]", "", text).split())


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_rendered_notebook_shows_every_question_and_folds_its_answer(chapter):
    from nbconvert import HTMLExporter

    page, _ = HTMLExporter().from_notebook_node(nbformat.read(form_of(chapter), as_version=4))
    text = _Visible()
    text.feed(page)
    visible, folded = _words("".join(text.visible)), _words("".join(text.folded))
    questions = DROPDOWN.findall(chapter.read_text())
    assert questions
    for question in questions:
        assert _words(question) in visible, question
    assert len(re.findall(r"<details>", page)) >= len(questions)
    assert folded


SITE = Path(os.environ.get("BNLAB_SITE", ROOT / "_build" / "html"))
NUMBERED_LINK = re.compile(r"\[(\(\d+\.\d+\)|Fig\. \d+\.\d+)\]\(([^)#\s]+)#([^)\s]+)\)")


@pytest.mark.skipif(not (SITE / "chapters").is_dir(), reason="needs the built site (make book)")
@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_numbers_are_the_ones_the_site_shows(chapter):
    site = read_address(ROOT).site
    links = NUMBERED_LINK.findall("\n".join(markdown_of(form_of(chapter))))
    assert links
    for shown, url, anchor in links:
        page = (SITE / url.removeprefix(site)).read_text()
        start = page.index(f'id="{anchor}"')
        if shown.startswith("("):
            eqno = re.search(r'<span class="eqno">(\([\d.]+\))', page[start:])
            assert eqno and eqno.group(1) == shown, (anchor, shown)
        else:
            number = re.search(
                r'<span class="caption-number">(Fig\. [\d.]+)\s*</span>', page[start:]
            )
            assert number and number.group(1) == shown, (anchor, shown)
