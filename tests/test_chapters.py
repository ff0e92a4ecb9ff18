"""Each chapter executes on its own, as a learner opens it: its notebook form, in a fresh kernel.

The book build already executes every ``chapters/*.md`` once, with the default seeds, and fails
on any error or stderr output. These tests execute what Binder and Colab open instead,
``notebooks/*.ipynb``, with ``notebooks/`` as cwd, and fail on an error, on stderr output and
on an output line that starts with ``FAIL``.

The chapters that assert experimental verdicts (`VERDICT_CHAPTERS`) run under two other seed
offsets instead of the default one the build covered, ``BNLAB_SEED=1`` and ``BNLAB_SEED=2``
(`bnlab.seeds`), so every verdict is checked again on fresh randomness: one file per offset,
``test_chapters_seed1.py`` and ``test_chapters_seed2.py``, so that ``pytest -n 2 --dist loadfile``
runs the two long executions on the two workers. The other chapters run here once, with the
default seeds.
"""

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# The chapters whose checks are experimental verdicts: they must hold under any seed offset.
# Longest first, so a worker busy with chapter 8 does not take the other offset's file too
# (pytest-xdist hands a worker another file when it has two tests or fewer left).
VERDICT_CHAPTERS = ("08_experiments", "07_placement", "03_gradient_variance", "06_train_inference")
SEED_ENV = "BNLAB_SEED"
FAIL_LINE = re.compile(r"^FAIL", re.M)


def notebooks(verdicts):
    """``pytest.param`` of each verdict chapter's notebook (in that order), or of every other."""
    if verdicts:
        paths = [ROOT / "notebooks" / f"{stem}.ipynb" for stem in VERDICT_CHAPTERS]
    else:
        paths = [p for p in NOTEBOOKS if p.stem not in VERDICT_CHAPTERS]
    return [pytest.param(p, id=p.stem) for p in paths]


def _text(output):
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return output.get("data", {}).get("text/plain", "")


def execute_notebook(path, seed_offset=None):
    """Execute `path` in a fresh kernel from its folder, under `seed_offset` (None: default).

    The kernel inherits this process's environment, with ``BNLAB_SEED`` set or removed. Fails
    the test on an error, on stderr output, or on an output line starting with ``FAIL``.
    """
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != SEED_ENV}
    if seed_offset is not None:
        env[SEED_ENV] = str(seed_offset)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute(env=env)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    stderr = [out.get("text", "") for out in outputs if out.get("name") == "stderr"]
    assert not stderr, f"{path.name} wrote to stderr: {stderr[:3]}"
    failed = [line for out in outputs for line in _text(out).splitlines() if FAIL_LINE.match(line)]
    assert not failed, f"{path.name} (BNLAB_SEED={seed_offset}) printed failures: {failed}"


def test_every_chapter_has_a_notebook_and_verdict_chapters_exist():
    stems = [p.stem for p in NOTEBOOKS]
    assert stems == [p.stem for p in sorted((ROOT / "chapters").glob("*.md"))]
    assert set(VERDICT_CHAPTERS) <= set(stems)


@pytest.mark.book
@pytest.mark.parametrize("path", notebooks(verdicts=False))
def test_chapter_executes_standalone(path):
    execute_notebook(path)
