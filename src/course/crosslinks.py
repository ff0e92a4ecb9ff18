"""The links between a chapter section and the problem-set part that practises it, written once.

A part of a problem set is a markdown cell that starts ``## Part A (3 points): title``. On the
website its exercise page gives it the label ``ps5-part-a`` (problem set 5, part A), which a
chapter section links to with ``{ref}``; the notebook forms of the chapters resolve the same label
to the page's address (``course.myst_to_ipynb``). A part names its chapter section with a Markdown
link to the section on the website, which Jupyter and Colab follow as it is; on the exercise page
it becomes a ``{ref}`` to the section's label, so the book links inside itself and Sphinx checks
the target. Which part practises which section is declared in ``course.concepts``.
"""

import re
from pathlib import Path

#: the heading a part's markdown cell starts with (nbgrader's docs course: ``## Part A (N points)``)
PART_HEADING = re.compile(r"^## Part ([A-Z]) \((\d+) points?\): (.+)$")
#: a Markdown link to a section of a chapter on the website: [text](SITE/chapters/STEM.html#LABEL)
SECTION_LINK = re.compile(r"\[([^\]\n]+)\]\((?:https?://[^()\s]*/)?chapters/(\w+)\.html#([\w-]+)\)")
_FOLDER = re.compile(r"^ps(\d+)_\w+$")


def problem_set_number(folder):
    """The number of a problem set from its folder name: ``ps5_train_inference`` -> 5."""
    match = _FOLDER.match(str(folder))
    if not match:
        raise ValueError(f"folder must be a problem set's folder like 'ps5_name', got {folder!r}")
    return int(match[1])


def part_label(folder, letter):
    """The label of part `letter` of the problem set in `folder` on its exercise page."""
    if not re.fullmatch(r"[A-Z]", str(letter)):
        raise ValueError(f"letter must be one capital letter, got {letter!r}")
    return f"ps{problem_set_number(folder)}-part-{letter.lower()}"


def parse_part(source):
    """``(letter, points, title)`` of a part's markdown cell, or None for any other cell."""
    match = PART_HEADING.match(source.split("\n", 1)[0].strip())
    return (match[1], int(match[2]), match[3]) if match else None


def chapter_number(stem):
    """The number of a chapter from its file name: ``06_train_inference`` -> 6."""
    match = re.match(r"^(\d+)_", str(stem))
    if not match:
        raise ValueError(f"stem must be a chapter's file name like '06_name', got {stem!r}")
    return int(match[1])


def website_markdown(source, folder):
    """The markdown of a problem set's cell as its exercise page shows it.

    A part's heading gets its label (in a problem set's folder, ``psN_name``); a link to a
    chapter section on the website becomes a ``{ref}`` to the section's label (the book's own
    page, checked by Sphinx).
    """
    part = parse_part(source)
    if part and _FOLDER.match(str(folder)):
        source = f"({part_label(folder, part[0])})=\n{source}"
    return SECTION_LINK.sub(_ref, source)


#: what the TeX of a section title becomes in a link's text (Sphinx writes a title's formula as
#: its raw TeX there); a title with any other command is refused, naming it
_TEX_TEXT = {"gamma": "γ", "beta": "β", "epsilon": "ε", "varepsilon": "ε", "mu": "μ", "sigma": "σ"}


def _ref(link):
    """A link to a chapter section as a ``{ref}``: the section's own title, or, where the title
    holds a formula (which the link's text would show as raw TeX), the title in plain text."""
    text, label = link[1], link[3]
    if "$" not in text:
        return f"{{ref}}`{label}`"

    def plain(formula):
        def symbol(command):
            if command[1] not in _TEX_TEXT:
                raise ValueError(
                    f"the link text {text!r} holds {command[0]!r}, which course.crosslinks "
                    f"cannot write as plain text; add it to _TEX_TEXT"
                )
            return _TEX_TEXT[command[1]]

        return re.sub(r"\\([A-Za-z]+)", symbol, formula[1]).replace("{", "").replace("}", "")

    shown = re.sub(r"\$([^$]+)\$", plain, text)
    return f"{{ref}}`{shown} <{label}>`"


def site_links(source, site):
    """`source` with its links to chapter sections pointing at the website `site` (a fork's)."""
    return SECTION_LINK.sub(lambda m: f"[{m[1]}]({site}chapters/{m[2]}.html#{m[3]})", source)


def part_labels(notebook_path):
    """``{label: (letter, title)}`` of the parts of a problem set's notebook (a release's)."""
    import nbformat

    path = Path(notebook_path)
    nb = nbformat.read(path, as_version=4)
    parts = {}
    for cell in nb.cells:
        part = parse_part(cell.source) if cell.cell_type == "markdown" else None
        if part:
            parts[part_label(path.parent.name, part[0])] = (part[0], part[2])
    return parts
