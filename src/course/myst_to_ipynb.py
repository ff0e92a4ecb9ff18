"""MyST Markdown of the chapters turned into Markdown that Jupyter, JupyterLab and Colab render.

The chapters are parsed with myst-parser's own markdown-it parser (the one the website is built
with), so a role inside inline code or a fence inside a fence is never mistaken for MyST. What
the website resolves at build time is resolved here from the book's sources:

- ``(label)=`` targets disappear; ``{ref}``, ``{doc}`` become the target's title, ``{numref}``
  and ``{eq}`` the number the website shows, each a link to that place of the website (a
  problem-set part's label, ``course.crosslinks``, to its exercise page);
- ``{math}`` blocks become ``$$`` blocks tagged with that number;
- ``{cite}`` becomes author-year, with the entries cited listed at the end of the notebook;
- admonitions become titled blockquotes, dropdowns ``<details>`` with the question as summary;
- ``literalinclude`` becomes the included code (read by Sphinx's own reader);
- ``{glue}`` becomes the name of the value the cell above prints, or, in the download of the
  executed notebook, the value itself (:func:`glue_values`);
- figure captions of code cells become a markdown cell under the figure.

A construct this module does not know raises :class:`MystError`, so a new one is noticed.
"""

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace

import jupytext
import nbformat
import yaml
from docutils.nodes import make_id
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser
from pybtex.database import parse_file
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style

from course.crosslinks import part_labels
from course.layout import CHAPTERS, EXERCISE_PAGES, CourseDir

ADMONITIONS = (
    "attention",
    "caution",
    "danger",
    "error",
    "hint",
    "important",
    "note",
    "seealso",
    "tip",
    "warning",
)
FIGURE_FORMAT = "Fig. {}"
_OPTION = re.compile(r"^:([\w-]+):\s*(.*)$")
_EXPLICIT = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)
_CITE_ROLES = {"cite", "cite:p", "cite:ps", "cite:t", "cite:ts"}


class MystError(ValueError):
    """A MyST construct the notebook form cannot express."""


def parser(config=None):
    """myst-parser's markdown-it parser with the extensions of ``_config.yml``."""
    extensions = set((config or {}).get("parse", {}).get("myst_enable_extensions", ()))
    md = create_md_parser(MdParserConfig(enable_extensions=extensions), RendererHTML)
    md.add_render_rule(
        "math_inline", lambda self, tokens, idx, *_: f"${escapeHtml(tokens[idx].content)}$"
    )
    return md


def split_directive(token):
    """``(name, argument, options, body)`` of a directive fence."""
    name, _, argument = token.info.strip()[1:].partition("}")
    lines = token.content.splitlines()
    options = {}
    if lines and lines[0].strip() == "---":
        end = lines.index("---", 1)
        options = yaml.safe_load("\n".join(lines[1:end])) or {}
        lines = lines[end + 1 :]
    else:
        while lines and _OPTION.match(lines[0]):
            key, value = _OPTION.match(lines.pop(0)).groups()
            options[key] = value
    return name.strip(), argument.strip(), options, "\n".join(lines).strip("\n")


def _figure_metadata(cell):
    return cell.metadata.get("mystnb", {}).get("figure") or {}


@dataclass
class Target:
    """Where a label points: its page, its anchor there, and what a reference shows."""

    docname: str
    anchor: str
    title: str
    number: str = ""


@dataclass
class Book:
    """Labels, numbers and bibliography of the book at `root`, and the website's address."""

    root: Path
    site: str
    targets: dict = field(default_factory=dict)
    titles: dict = field(default_factory=dict)

    def __post_init__(self):
        self.root = Path(self.root)
        self.config = yaml.safe_load((self.root / "_config.yml").read_text())
        self.md = parser(self.config)
        for number, chapter in enumerate(self.chapters(), start=1):
            self._index(chapter, str(number))
        for page in sorted(self.root.glob("pages/*.md")) + [self.root / "intro.md"]:
            if page.exists():
                self.titles[self.docname(page)] = _first_heading(page.read_text())
        release = CourseDir(self.root).release
        for notebook in sorted(release.glob("*/*.ipynb")):
            doc = Path(EXERCISE_PAGES, notebook.relative_to(release)).with_suffix("")
            for label, (letter, title) in part_labels(notebook).items():
                self._add(label, doc.as_posix(), f"Part {letter}: {title}")

    def chapters(self):
        return sorted((self.root / CHAPTERS).glob("*.md"))

    def docname(self, path):
        return Path(path).resolve().relative_to(self.root.resolve()).with_suffix("").as_posix()

    def _index(self, chapter, number):
        doc = self.docname(chapter)
        equations = figures = 0
        label = None
        for cell in jupytext.read(chapter).cells:
            if cell.cell_type == "code":
                name = _figure_metadata(cell).get("name")
                if name:
                    figures += 1
                    caption = _figure_metadata(cell).get("caption", "")
                    self._add(name, doc, caption, f"{number}.{figures}")
                continue
            tokens = self.md.parse(cell.source)
            for i, token in enumerate(tokens):
                if token.type == "myst_target":
                    label = token.content
                elif token.type == "heading_open":
                    title = tokens[i + 1].content
                    if token.tag == "h1":
                        self.titles[doc] = title
                    if label:
                        self._add(label, doc, title)
                    label = None
                elif token.type in ("fence", "colon_fence") and token.info.startswith("{"):
                    name, _, options, _ = split_directive(token)
                    if name == "math" and "label" in options:
                        equations += 1
                        eq = options["label"]
                        self._add(eq, doc, eq, f"{number}.{equations}", f"equation-{eq}")
                    elif name == "figure" and "name" in options:
                        figures += 1
                        self._add(options["name"], doc, "", f"{number}.{figures}")
                elif token.type == "math_block_label":
                    equations += 1
                    self._add(token.info, doc, token.info, f"{number}.{equations}")

    def _add(self, label, doc, title, number="", anchor=None):
        if label in self.targets:
            raise MystError(f"label {label!r} defined twice ({doc})")
        self.targets[label] = Target(doc, anchor or make_id(label), title, number)

    def target(self, label):
        try:
            return self.targets[label]
        except KeyError:
            raise MystError(f"unknown label {label!r}") from None

    @cached_property
    def bibliography(self):
        files = self.config.get("bibtex_bibfiles", [])
        entries = {}
        for name in files:
            entries.update(parse_file(self.root / name).entries)
        return entries

    def author_year(self, key):
        """``("Ioffe and Szegedy", "2015")``, as the website's author_year style names them."""
        try:
            entry = self.bibliography[key]
        except KeyError:
            raise MystError(f"unknown citation {key!r}") from None
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_latex_text(" ".join(p.last_names)) for p in people]
        if len(names) > 2 or (len(names) == 2 and names[1] == "others"):
            authors = f"{names[0]} et al."
        else:
            authors = " and ".join(names)
        return authors, entry.fields.get("year", "n.d.")

    def references_cell(self, keys):
        """A markdown cell listing the entries of `keys` (sorted by author and year)."""
        style = Style()
        formatted = {
            e.key: e.text.render_as("markdown")
            for e in style.format_entries(self.bibliography[k] for k in keys)
        }
        order = sorted(keys, key=self.author_year)
        items = [
            f"- **{' '.join(self.author_year(k))}**. {' '.join(formatted[k].split())}"
            for k in order
        ]
        return nbformat.v4.new_markdown_cell("## References\n\n" + "\n".join(items))


def _latex_text(text):
    return Text.from_latex(text).render_as("text")


def _first_heading(text):
    match = re.search(r"^# (.+)$", text, re.M)
    return match.group(1).strip() if match else ""


class Converter:
    """Turns the markdown of one chapter (`docname`) into Jupyter Markdown."""

    def __init__(self, book, docname, glue=None):
        self.book = book
        self.docname = docname
        self.glue = glue or {}
        self.cited = []

    def markdown(self, text):
        tokens = self.book.md.parse(text)
        lines = text.splitlines()
        out, cursor = [], 0
        for token in tokens:
            if token.map is None or token.nesting == -1 or token.map[0] < cursor:
                continue
            start, end = token.map
            replacement = self._block(token)
            if replacement is None:
                continue
            out.append(self._inline("\n".join(lines[cursor:start]), tokens, cursor, start))
            out.append(_indent(replacement, lines[start]))
            cursor = end
        out.append(self._inline("\n".join(lines[cursor:]), tokens, cursor, len(lines)))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")

    def _inline(self, text, tokens, start, end):
        """`text` (lines start..end of the cell) with every role the parser found replaced."""
        roles = [
            child
            for t in tokens
            if t.type == "inline" and t.map and start <= t.map[0] < end
            for child in t.children or ()
            if child.type == "myst_role"
        ]
        out, pos = [], 0
        for role in roles:
            opening = f"{{{role.meta['name']}}}`"
            begin = text.index(opening, pos)
            close = text.index("`", begin + len(opening))
            out += [text[pos:begin], self.role(role.meta["name"], role.content)]
            pos = close + 1
        return "".join(out) + text[pos:]

    def role(self, name, content):
        explicit = _EXPLICIT.match(content)
        text, label = explicit.groups() if explicit else (None, content.strip())
        if name == "eq":
            target = self.book.target(label)
            return self._link(text or f"({target.number})", target)
        if name == "numref":
            target = self.book.target(label)
            shown = text.replace("%s", target.number) if text else None
            return self._link(shown or FIGURE_FORMAT.format(target.number), target)
        if name == "ref":
            target = self.book.target(label)
            return self._link(text or target.title, target)
        if name == "doc":
            doc = (Path(self.docname).parent / label).as_posix()
            doc = Path(*_normalise(doc.split("/"))).as_posix()
            if doc not in self.book.titles:
                raise MystError(f"{self.docname}: unknown document {label!r}")
            title = text or self.book.titles[doc]
            return f"[{title}]({self.book.site}{doc}.html)"
        if name in _CITE_ROLES:
            keys = [k.strip() for k in content.split(",")]
            self.cited += [k for k in keys if k not in self.cited]
            pairs = [self.book.author_year(k) for k in keys]
            if name.startswith("cite:t"):
                return "; ".join(f"{a} ({y})" for a, y in pairs)
            return "(" + "; ".join(f"{a}, {y}" for a, y in pairs) + ")"
        if name in ("glue", "glue:text"):
            key, _, spec = content.partition(":")
            if key not in self.glue:
                return f"`{key}`"
            from myst_nb.core.variables import format_plain_text

            return format_plain_text(self.glue[key], spec)
        if name == "math":
            return f"${content}$"
        raise MystError(f"{self.docname}: the role {{{name}}} has no notebook form")

    def _link(self, text, target):
        return f"[{text}]({self.book.site}{target.docname}.html#{target.anchor})"

    def _block(self, token):
        """The replacement of a top-level block, or None to keep its lines as they are."""
        if token.type in ("myst_target", "myst_line_comment", "front_matter"):
            return ""
        if token.type == "myst_block_break":
            return ""
        if token.type == "math_block_label":
            target = self.book.target(token.info)
            return _display_math(token.content, target.number)
        if token.type in ("fence", "colon_fence") and token.info.startswith("{"):
            return self.directive(*split_directive(token))
        return None

    def directive(self, name, argument, options, body):
        if name == "math":
            label = options.get("label")
            number = self.book.target(label).number if label else ""
            return _display_math(body, number)
        if name == "dropdown" or (
            name == "admonition" and "dropdown" in options.get("class", "").split()
        ):
            summary = self.book.md.renderInline(self.markdown(argument or "Details")).strip()
            return f"<details>\n<summary>{summary}</summary>\n\n{self.markdown(body)}\n\n</details>"
        if name == "admonition" or name in ADMONITIONS:
            title = argument if name == "admonition" else name.capitalize()
            if name != "admonition" and argument:
                body = f"{argument}\n\n{body}"
            quoted = f"**{self.markdown(title)}**\n\n{self.markdown(body)}"
            return "\n".join(f"> {line}".rstrip() for line in quoted.splitlines())
        if name == "literalinclude":
            return self.literalinclude(argument, options)
        if name in ("code-block", "code", "sourcecode"):
            return f"```{argument}\n{body}\n```"
        if name in ("figure", "image"):
            alt = options.get("alt", "")
            caption = self.markdown(body) if name == "figure" else ""
            number = self.book.target(options["name"]).number if "name" in options else ""
            prefix = f"**{FIGURE_FORMAT.format(number)}** " if number else ""
            return f"![{alt}]({argument})" + (f"\n\n{prefix}{caption}" if caption else "")
        raise MystError(f"{self.docname}: the directive {{{name}}} has no notebook form")

    def literalinclude(self, argument, options):
        from sphinx.directives.code import LiteralIncludeReader

        path = (self.book.root / self.docname).parent / argument
        reader_options = {k: (v if v else True) for k, v in options.items()}
        config = SimpleNamespace(source_encoding="utf-8-sig")
        code, _ = LiteralIncludeReader(str(path), reader_options, config).read()
        language = options.get("language") or ("python" if path.suffix == ".py" else "")
        return f"```{language}\n{code.rstrip()}\n```"

    def caption_cell(self, cell):
        """The markdown cell under a figure made by `cell`, or None."""
        figure = _figure_metadata(cell)
        if not figure.get("caption"):
            return None
        number = self.book.target(figure["name"]).number if figure.get("name") else ""
        prefix = f"**{FIGURE_FORMAT.format(number)}.** " if number else ""
        caption = self.markdown(" ".join(figure["caption"].split()))
        return nbformat.v4.new_markdown_cell(prefix + caption)


def _indent(block, first_line):
    """`block` placed where `first_line` stood: inside a list item or a blockquote."""
    lead = re.match(r"^[\s>]*(?:(?:[-*+]|\d+[.)])\s+)?[\s>]*", first_line).group(0)
    rest = re.sub(r"[^>\s]", " ", lead)
    lines = block.split("\n")
    return "\n".join(
        [(lead + lines[0]).rstrip()]
        + [(rest + line).rstrip() if line else rest.rstrip() for line in lines[1:]]
    )


def _normalise(parts):
    out = []
    for part in parts:
        if part == "..":
            out.pop()
        elif part not in ("", "."):
            out.append(part)
    return out


def _display_math(body, number):
    """A ``$$`` block as the website's MathJax shows it: parts aligned, ``\\\\`` split."""
    parts = [p.strip() for p in body.split("\n\n") if p.strip()]
    parts = [rf"\begin{{split}}{p}\end{{split}}" if r"\\" in p else p for p in parts]
    math = "\\\\\n".join(parts)
    if len(parts) > 1:
        math = rf"\begin{{align}}\begin{{aligned}}{math}\end{{aligned}}\end{{align}}"
    tag = rf"\tag{{{number}}}" if number else ""
    return f"$$\n{math}{tag}\n$$"


def convert_notebook(nb, book, docname, glue=None):
    """`nb` (a chapter read by jupytext) with every markdown cell and caption converted.

    `glue` (:func:`glue_values` of the executed chapter) puts the glued values into the text;
    without it the text names each value, which the cell above prints.
    """
    converter = Converter(book, docname, glue)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = converter.markdown(cell.source)
            if cell.source.strip():
                cells.append(cell)
            continue
        cells.append(cell)
        if cell.cell_type == "code":
            caption = converter.caption_cell(cell)
            cell.metadata.pop("mystnb", None)
            if "hide-input" in cell.metadata.get("tags", []):
                cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
            if caption is not None:
                cells.append(caption)
    if converter.cited:
        cells.append(book.references_cell(converter.cited))
    nb.cells = cells
    return nb


def glue_values(nb):
    """``{name: text}`` of the values glued in executed `nb` (``bnlab.glue``, myst-nb's glue)."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                prefix = record.get("mime_prefix", "")
                values[record["name"]] = output["data"].get(f"{prefix}text/plain", "")
    return values
