"""A submission's scores per graded cell and per part, with the judge's messages."""

from dataclasses import dataclass, field

from course.layout import GRADED, cell_kind, grade_id


def part_of_cells(nb):
    """Map grade_id -> the title of the '## Part' section the cell is in."""
    part, parts = "(before the first part)", {}
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## Part"):
            part = cell.source.lstrip()[3:].splitlines()[0].strip()
        if cell_kind(cell) in GRADED:
            parts[grade_id(cell)] = part
    return parts


@dataclass
class Result:
    student: str
    assignment: str
    scores: dict = field(default_factory=dict)  # notebook -> {grade_id: (score, max)}
    parts: dict = field(default_factory=dict)  # notebook -> {grade_id: part title}
    messages: dict = field(default_factory=dict)  # notebook -> {grade_id: judge's message}
    incidents: list = field(default_factory=list)
    ungraded: bool = False  # the grader failed on it: nothing is recorded
    log: str = ""

    @property
    def total(self):
        return sum(s for nb in self.scores.values() for s, _ in nb.values())

    @property
    def max_total(self):
        return sum(m for nb in self.scores.values() for _, m in nb.values())

    def by_part(self):
        out = {}
        for nb, cells in self.scores.items():
            for gid, (s, m) in cells.items():
                key = f"{nb}: {self.parts[nb].get(gid, '?')}"
                got, mx = out.get(key, (0.0, 0.0))
                out[key] = (got + s, mx + m)
        return out
