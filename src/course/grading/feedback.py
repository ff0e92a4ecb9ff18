"""nbgrader preprocessor for feedback: learners see their scores, not the hidden tests.

The autograded notebook contains the hidden tests (nbgrader restores every graded cell from the
gradebook) and IPython tracebacks quote the failing source lines. For each graded test cell this
keeps the visible part of the source, replaces the hidden region by a one-line note, and reduces
every error output to its name and message (the referee's messages name the failing case, never
the test code).
"""

from nbgrader.preprocessors import NbGraderPreprocessor

from course.layout import HIDDEN, TESTS, cell_kind, regions

NOTE = "# (hidden tests: they decide the grade and are not shown)"


def strip_hidden(source, cell=None):
    """Return `source` with every hidden-test region replaced by a one-line note (`cell` names
    it in an error: :func:`course.layout.regions`)."""
    lines, out, at = source.splitlines(), [], 0
    for r in regions(source, cell):
        if r.kind == HIDDEN:
            out += [*lines[at : r.begin], NOTE]
            at = r.end + 1
    return "\n".join(out + lines[at:])


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden test source and tracebacks from graded cells of the feedback."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell_kind(cell) == TESTS:
            cell.source = strip_hidden(cell.source, cell)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
