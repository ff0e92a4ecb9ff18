"""The chapters' code cells, formatted by ruff to fit the website's code column (80 characters).

The book shows code in a column about 84 characters of its monospace font wide (684 px at a
1280 px window), so the code cells of ``chapters/*.md`` are formatted with ruff at
``LINE_LENGTH``. ruff formats them as one notebook per chapter (its notebook mode keeps a last
line's semicolon and IPython syntax), and every cell must keep its meaning: the syntax trees of
the old and the new code are compared. A figure cell that grows past ``LONG_CODE`` lines is
folded away (``hide-input``), as the house style asks of long plotting code.

    python -m course.chapter_format [--check] [CHAPTER ...]   # default: every chapter

``--check`` (run by ``make lint``) changes nothing and fails, naming the chapters, when one is
not formatted. Each chapter is read, formatted and written in one quick pass.
"""

import argparse
import ast
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from course.layout import REPO_ROOT
from course.notebook_forms import chapter_sources

LINE_LENGTH = 80
LONG_CODE = 15  # lines of visible figure code (tests/test_browser.py checks the same bound)
RUFF = Path(sys.executable).with_name("ruff")
CELL = re.compile(
    r"(^```\{code-cell\}[^\n]*\n(?:---\n.*?\n---\n|(?::[^\n]*\n)*))(.*?)(^```[ \t]*$)",
    re.M | re.S,
)


def format_cells(sources, root=REPO_ROOT):
    """The code `sources` formatted by ruff (the project's settings, ``LINE_LENGTH``)."""
    cells = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in sources
    ]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cells.ipynb"
        path.write_text(json.dumps(nb))
        pyproject = Path(root) / "pyproject.toml"
        config = ["--config", str(pyproject)] if pyproject.is_file() else ["--isolated"]
        proc = subprocess.run(
            [str(RUFF), "format", *config, "--line-length", str(LINE_LENGTH), str(path)],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            raise RuntimeError(f"ruff format failed: {proc.stderr}")
        formatted = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
    for old, new in zip(sources, formatted, strict=True):
        if ast.dump(ast.parse(old)) != ast.dump(ast.parse(new)):
            raise RuntimeError(f"formatting would change the meaning of:\n{old}")
    return formatted


def _fold_long_figure_code(head, code):
    """The cell's options, with ``hide-input`` added when visible figure code is too long."""
    hidden = any(tag in head for tag in ("hide-input", "remove-input", "remove-cell"))
    figure = "plt." in code or "fig" in code
    if hidden or not figure or len(code.strip().splitlines()) <= LONG_CODE:
        return head
    tags = re.search(r"^:?tags: \[([^\]]*)\]", head, re.M)
    if tags:
        inner = tags.group(1).strip()
        return (
            head[: tags.start(1)]
            + (f"{inner}, hide-input" if inner else "hide-input")
            + (head[tags.end(1) :])
        )
    if head.startswith("```{code-cell}") and "\n---\n" in head:
        cut = head.rstrip("\n").rfind("---")
        return head[:cut] + "tags: [hide-input]\n" + head[cut:]
    return head + ":tags: [hide-input]\n"


def formatted_chapter(text, root=REPO_ROOT):
    """`text` of a chapter with its code cells formatted."""
    matches = list(CELL.finditer(text))
    sources = [m.group(2).rstrip("\n") for m in matches]
    out, last = [], 0
    for match, new in zip(matches, format_cells(sources, root), strict=True):
        out.append(text[last : match.start(1)])
        out.append(_fold_long_figure_code(match.group(1), new))
        out.append(new + "\n" if new else "")
        last = match.end(2)
    out.append(text[last:])
    return "".join(out)


def format_chapter(path, check=False):
    """Format chapter `path` in place (one read, one write); return True when it changed."""
    path = Path(path)
    for _ in range(5):
        text = path.read_text()
        new = formatted_chapter(text, path.resolve().parents[1])
        if new == text or check:
            return new != text
        if path.read_text() == text:  # nobody wrote it meanwhile
            path.write_text(new)
            return True
    raise RuntimeError(f"{path} kept changing while it was formatted")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a chapter is unformatted")
    parser.add_argument("chapters", nargs="*", type=Path)
    args = parser.parse_args(argv)
    changed = [p for p in args.chapters or chapter_sources() if format_chapter(p, args.check)]
    if args.check and changed:
        print("not formatted (python -m course.chapter_format):", *changed, sep="\n  ")
        return 1
    for path in changed:
        print("formatted", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
