"""The verdict chapters under seed offset 1 (``BNLAB_SEED=1``): see ``test_chapters.py``.

A file of its own, so that pytest-xdist's ``--dist loadfile`` can run it on one worker while the
other offset runs on the other.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_chapters import execute_notebook, notebooks  # noqa: E402

SEED_OFFSET = 1


@pytest.mark.book
@pytest.mark.parametrize("path", notebooks(verdicts=True))
def test_verdicts_hold_under_other_seeds(path):
    execute_notebook(path, SEED_OFFSET)
