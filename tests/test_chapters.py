"""Each chapter executes on its own, as a learner opens it: its notebook form, in a fresh kernel.

The book build already executes every ``chapters/*.md`` once, with the default seeds, and fails
on any error or stderr output. These tests execute what Binder and Colab open instead,
``notebooks/*.ipynb``, with ``notebooks/`` as cwd, and fail on an error, on stderr output and
on an output line that starts with ``FAIL``.

The chapters that assert experimental verdicts (`course.execute.VERDICT_CHAPTERS`) run under
two other seed offsets instead of the default one the build covered, ``BNLAB_SEED=1`` and
``BNLAB_SEED=2`` (`bnlab.seeds`), so every verdict is checked again on fresh randomness: one file
per offset, ``test_chapters_seed1.py`` and ``test_chapters_seed2.py``, so that
``pytest -n 2 --dist loadfile`` runs the two long executions on the two workers, and under one
offset drawn afresh for every run (``test_chapters_random.py``, printed in the session header).
A chapter without random verdicts would run here once, with the default seeds (at present every
chapter has some). ``make verdicts`` shows how far each verdict is from failing, over many offsets.
"""

from pathlib import Path

import pytest

from course.execute import VERDICT_CHAPTERS, execute_notebook, verdict_notebooks

ROOT = Path(__file__).resolve().parents[1]


def notebooks(verdicts):
    return [pytest.param(p, id=p.stem) for p in verdict_notebooks(ROOT, verdicts)]


def test_every_chapter_has_a_notebook_and_verdict_chapters_exist():
    stems = [p.stem for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    assert stems == [p.stem for p in sorted((ROOT / "chapters").glob("*.md"))]
    assert set(VERDICT_CHAPTERS) <= set(stems)


@pytest.mark.book
@pytest.mark.parametrize("path", notebooks(verdicts=False))
def test_chapter_executes_standalone(path):
    assert execute_notebook(path) == []
