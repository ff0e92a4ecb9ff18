"""The corpus: independently written submissions, each with the score it deserves, part by part.

``corpus/<assignment>/<variant>.ipynb`` is a filled copy of the student notebook, written by
someone who never saw ``solutions/``, with the top-level notebook metadata::

    "bnlab_corpus": {"kind": "correct" | "wrong", "about": "<one line>",
                     "expected": {"<grade_id>": <points>, ...}}

``expected`` lists every graded cell of the assignment. :func:`grade` puts every variant of an
assignment into a scratch course as a collected submission and runs the instructor's
``autograde`` on it (sandbox, canary, workers), so a variant is graded exactly as a student's
notebook is. The corpus is secret like ``solutions/``: it is not in the student release.

    python -m course.grading.corpus          # the counts per part: correct and wrong variants
"""

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course import layout
from course.grading.runner import write_config
from course.grading.scores import part_of_cells
from course.layout import REPO_ROOT, CourseDir

KEY = "bnlab_corpus"


@dataclass(frozen=True)
class Variant:
    assignment: str
    name: str
    path: Path
    kind: str
    about: str
    expected: dict  # grade_id -> points

    @property
    def student(self):
        """The variant's name as an nbgrader student id."""
        return re.sub(r"[^A-Za-z0-9_-]", "-", self.name)


def graded_cells(source_nb):
    """``{grade_id: points}`` of every graded cell of the course's notebook."""
    return {
        layout.grade_id(c): layout.points(c)
        for c in source_nb.cells
        if layout.cell_kind(c) in layout.GRADED
    }


def source_notebook(assignment, root=REPO_ROOT):
    """The course's (only) notebook of `assignment`: its path and contents."""
    paths = sorted((CourseDir(root).source / assignment).glob("*.ipynb"))
    if len(paths) != 1:
        raise ValueError(f"assignment {assignment!r}: expected one notebook, found {len(paths)}")
    return paths[0], nbformat.read(paths[0], 4)


def variants(assignment, corpus=None):
    """The variants of `assignment`, sorted by name."""
    folder = Path(corpus or layout.COURSE.corpus) / assignment
    out = []
    for path in sorted(folder.glob("*.ipynb")):
        meta = nbformat.read(path, 4).metadata.get(KEY, {})
        out.append(
            Variant(
                assignment,
                path.stem,
                path,
                meta.get("kind"),
                meta.get("about", ""),
                dict(meta.get("expected", {})),
            )
        )
    return out


def problems(variant, cells):
    """What is wrong with a variant's declaration, against the graded `cells` (a list)."""
    out = []
    if variant.kind not in ("correct", "wrong"):
        out.append(f"kind must be 'correct' or 'wrong', got {variant.kind!r}")
    if not variant.about.strip():
        out.append("'about' is empty: say in one line what this variant does differently")
    missing = sorted(set(cells) - set(variant.expected))
    unknown = sorted(set(variant.expected) - set(cells))
    if missing:
        out.append(f"expected lacks graded cells {missing}")
    if unknown:
        out.append(f"expected names cells that are not graded {unknown}")
    for gid, pts in variant.expected.items():
        if gid in cells and not (isinstance(pts, int | float) and 0 <= pts <= cells[gid]):
            out.append(f"expected {gid}: {pts!r} is not between 0 and {cells[gid]:g}")
    full = all(variant.expected.get(g) == p for g, p in cells.items())
    if variant.kind == "correct" and not full:
        out.append("a correct variant must expect full marks on every cell")
    if variant.kind == "wrong" and full:
        out.append("a wrong variant must expect less than full marks somewhere")
    return out


def counts(assignment, corpus=None, root=REPO_ROOT):
    """``{part: (correct, wrong)}``: per part of `assignment`, the variants that deserve its
    full points and are correct throughout, and those that deserve less on it."""
    _, nb = source_notebook(assignment, root)
    cells, parts = graded_cells(nb), part_of_cells(nb)
    out = {p: [0, 0] for p in dict.fromkeys(parts.values())}
    for v in variants(assignment, corpus):
        for part in out:
            ids = [g for g, p in parts.items() if p == part]
            lost = any(v.expected.get(g, 0) < cells[g] for g in ids)
            if lost:
                out[part][1] += 1
            elif v.kind == "correct":
                out[part][0] += 1
    return {p: tuple(c) for p, c in out.items()}


def grade(assignment, course_root, corpus=None, *, workers=2, root=REPO_ROOT):
    """Autograde every variant of `assignment` in a fresh course at `course_root`, as an
    instructor does; returns ``{variant name: (variant, Result)}``."""
    from course.grading.autograde import autograde

    course_root = write_config(course_root)
    source_path, _ = source_notebook(assignment, root)
    shutil.copytree(source_path.parent, CourseDir(course_root).source / assignment)
    found = variants(assignment, corpus)
    for v in found:
        dest = CourseDir(course_root).submitted(v.student, assignment)
        dest.mkdir(parents=True)
        shutil.copy(v.path, dest / source_path.name)
    results = autograde(assignment, course_root, workers=workers)
    by_student = {r.student: r for r in results}
    return {v.name: (v, by_student[v.student]) for v in found}


def mismatches(variant, result):
    """Lines saying where `result`'s points differ from what `variant` declares."""
    out = []
    got = {gid: s for cells in result.scores.values() for gid, (s, _) in cells.items()}
    msgs = {gid: m for cells in result.messages.values() for gid, m in cells.items()}
    for gid, want in variant.expected.items():
        if got.get(gid) != float(want):
            out.append(
                f"{variant.assignment}/{variant.name} ({variant.kind}: {variant.about}): "
                f"{gid} scored {got.get(gid)} instead of {want}: {msgs.get(gid, 'not run')}"
            )
    if result.ungraded:
        out.append(f"{variant.assignment}/{variant.name}: not graded ({result.incidents})")
    return out


def table(corpus=None, root=REPO_ROOT):
    """The counts of every assignment as text, one line per part."""
    lines = []
    for assignment in sorted(p.name for p in CourseDir(root).source.iterdir() if p.is_dir()):
        found = variants(assignment, corpus)
        n_ok = sum(v.kind == "correct" for v in found)
        lines.append(f"{assignment}: {len(found)} variants ({n_ok} correct, "
                     f"{len(found) - n_ok} wrong)")  # fmt: skip
        for part, (ok, bad) in counts(assignment, corpus, root).items():
            lines.append(f"  {part}: {ok} correct, {bad} wrong")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1] if len(sys.argv) > 1 else None))
