"""course.grading.scan: the tamper scan flags tampering, not honest answers."""

import nbformat

from course.grading import scan
from course.layout import REPO_ROOT

SOLUTIONS = REPO_ROOT / "solutions"


def test_scan_flags_tampering_not_honest_answers(tmp_path):
    nb = nbformat.read(SOLUTIONS / "ps1_moments" / "moments.ipynb", 4)
    path = tmp_path / "honest.ipynb"
    nbformat.write(nb, path)
    assert scan.scan_notebook(path) == []
    nb.cells.insert(2, nbformat.v4.new_code_cell("import bnlab\nnp.allclose = lambda *a: True"))
    nbformat.write(nb, path)
    found = " ".join(m for _, m in scan.scan_notebook(path))
    assert "reference package" in found and "assigns an attribute" in found
