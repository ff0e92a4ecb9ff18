"""The verdict chapters under seed offset 1 (``BNLAB_SEED=1``): see ``test_chapters.py``.

A file of its own, so that pytest-xdist's ``--dist loadfile`` can run it on one worker while the
other offset runs on the other.
"""

from pathlib import Path

import pytest

from course.execute import execute_notebook, verdict_notebooks

ROOT = Path(__file__).resolve().parents[1]
SEED_OFFSET = 1


@pytest.mark.book
@pytest.mark.parametrize("path", verdict_notebooks(ROOT), ids=lambda p: p.stem)
def test_verdicts_hold_under_other_seeds(path):
    assert execute_notebook(path, SEED_OFFSET) == []
