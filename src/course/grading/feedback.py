"""nbgrader preprocessor for feedback: learners see their scores, not the hidden tests.

The autograded notebook contains the hidden tests (nbgrader restores every graded cell from the
gradebook) and IPython tracebacks quote the failing source lines. For each graded test cell this
keeps the visible part of the source, replaces the hidden region by a one-line note, and reduces
every error output to its name and message (the referee's messages name the failing case, never
the test code).
"""

from nbgrader.preprocessors import NbGraderPreprocessor

from course.layout import HIDDEN_MARKERS

BEGIN, END = HIDDEN_MARKERS
NOTE = "# (hidden tests: they decide the grade and are not shown)"


def strip_hidden(source):
    """Return `source` with every hidden-test region replaced by a one-line note."""
    lines, hidden, out = source.splitlines(), False, []
    for line in lines:
        if line.strip() == BEGIN:
            hidden = True
            out.append(NOTE)
        elif line.strip() == END:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out)


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden test source and tracebacks from graded cells of the feedback."""

    def preprocess_cell(self, cell, resources, index):
        nbg = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and nbg.get("grade") and not nbg.get("solution"):
            cell.source = strip_hidden(cell.source)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
