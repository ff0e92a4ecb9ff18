"""Scores read from an autograded notebook, per graded cell and per part."""

from dataclasses import dataclass, field

from nbgrader.utils import determine_grade


def part_of_cells(nb):
    """Map grade_id -> the title of the '## Part' section the cell is in."""
    part, parts = "(before the first part)", {}
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## Part"):
            part = cell.source.lstrip()[3:].splitlines()[0].strip()
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            parts[meta["grade_id"]] = part
    return parts


def scores_of(autograded_nb, source_nb):
    """``{grade_id: (score, max_score)}`` from an executed notebook, for every graded cell of
    the source; a graded cell missing from the executed notebook scores 0."""
    got = {}
    for cell in autograded_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id") not in got:
            score, _ = determine_grade(cell)
            got[meta["grade_id"]] = float(score or 0.0)
    result = {}
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            pts = float(meta.get("points", 0))
            result[meta["grade_id"]] = (min(got.get(meta["grade_id"], 0.0), pts), pts)
    return result


@dataclass
class Result:
    student: str
    assignment: str
    scores: dict = field(default_factory=dict)  # notebook -> {grade_id: (score, max)}
    parts: dict = field(default_factory=dict)  # notebook -> {grade_id: part title}
    incidents: list = field(default_factory=list)
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
