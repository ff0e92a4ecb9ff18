"""How long each chapter takes to read and run: the table of the landing page."""

from pathlib import Path

import jupytext

from course.layout import CHAPTERS
from course.layout import REPO_ROOT as ROOT
from course.notebook_forms import chapter_sources

WORDS_PER_MINUTE = 120
MINUTES_PER_CODE_CELL = 1.5


def chapter_time(chapter):
    """``(title, minutes)``: reading at 120 words a minute plus 1.5 minutes per code cell.

    Technical prose with formulas is read at about half the speed of plain prose; the code
    cells are run and their output looked at. Rounded up to 5 minutes.
    """
    nb = jupytext.read(chapter)
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    title = next(
        (line[2:].strip() for line in prose.splitlines() if line.startswith("# ")),
        Path(chapter).stem,
    )
    code_cells = sum(c.cell_type == "code" for c in nb.cells)
    minutes = len(prose.split()) / WORDS_PER_MINUTE + MINUTES_PER_CODE_CELL * code_cells
    return title, 5 * max(1, -(-int(minutes) // 5))


def chapter_times_table(root=ROOT, prefix=""):
    """A Markdown table of every chapter with the time it takes, for the landing page."""
    rows = ["| Chapter | About |", "|---|---|"]
    for chapter in chapter_sources(root):
        title, minutes = chapter_time(chapter)
        rows.append(f"| {{doc}}`{title} <{prefix}{CHAPTERS}/{chapter.stem}>` | {minutes} min |")
    return "\n".join(rows)
