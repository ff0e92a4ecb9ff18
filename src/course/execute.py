"""Executing a chapter's notebook form in a fresh kernel under a seed offset.

The chapters whose checks are experimental verdicts (:data:`VERDICT_CHAPTERS`) run again under
other seed offsets (``BNLAB_SEED``, :mod:`bnlab.seeds`): in the tests and in ``make verdicts``
(:mod:`course.verdicts`), which records every verdict's margin.
"""

import os
import re
from pathlib import Path

import nbformat

from bnlab import seeds
from course.layout import NOTEBOOKS
from course.layout import REPO_ROOT as ROOT

# The chapters whose checks are experimental verdicts: they must hold under any seed offset.
# Longest first, so a test worker busy with chapter 8 does not take the other offset's file too
# (pytest-xdist hands a worker another file when it has two tests or fewer left).
# Every chapter with a random simulation or training asserts its outcome as a statistic, so every
# one of them is checked again: the build covers the default seeds, the tests two other offsets
# and one drawn per run (tests/test_chapters_random.py), `make verdicts` ten with their margins.
VERDICT_CHAPTERS = (
    "08_experiments",
    "03_gradient_variance",
    "09_distributed_bn",
    "07_placement",
    "02_covariance_moments",
    "05_bn_backward",
    "01_expectation_variance",
    "06_train_inference",
    "04_bn_forward",
)
SEED_ENV = seeds.ENV
RECORD_ENV = seeds.VERDICTS_ENV
_FAIL_LINE = re.compile(r"^FAIL", re.M)


def verdict_notebooks(root=ROOT, verdicts=True):
    """The notebook forms of the verdict chapters (in that order), or of every other chapter."""
    if verdicts:
        return [Path(root) / NOTEBOOKS / f"{stem}.ipynb" for stem in VERDICT_CHAPTERS]
    every = sorted((Path(root) / NOTEBOOKS).glob("*.ipynb"))
    return [p for p in every if p.stem not in VERDICT_CHAPTERS]


def _text(output):
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return output.get("data", {}).get("text/plain", "")


def execute_notebook(path, seed_offset=None, record=None):
    """Execute `path` in a fresh kernel from its folder, under `seed_offset` (None: default).

    The kernel inherits this process's environment, with ``BNLAB_SEED`` set or removed. Returns
    the problems: stderr output, and output lines starting with ``FAIL``. An error raises.
    With `record` (a file path) every verdict appends its margin there and a failed verdict
    does not raise (``bnlab.seeds.VERDICTS_ENV``; ``make verdicts``).

    The kernel talks over Unix sockets in a private folder, not TCP ports: kernels started at
    the same moment (test workers, ``make verdicts``) cannot pick the same port.
    """
    import tempfile

    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in (SEED_ENV, RECORD_ENV)}
    if seed_offset is not None:
        env[SEED_ENV] = str(seed_offset)
    if record is not None:
        env[RECORD_ENV] = str(record)
    with tempfile.TemporaryDirectory(prefix="bnlab-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
        client = NotebookClient(
            nb,
            km=km,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        try:
            client.execute(env=env)
        finally:  # the client stops only a kernel manager it made itself, and its channels
            if getattr(client, "kc", None) is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                km.shutdown_kernel(now=True)
            km.context.destroy(linger=0)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    problems = [f"stderr: {out.get('text', '')}" for out in outputs if out.get("name") == "stderr"]
    lines = [line for out in outputs for line in _text(out).splitlines()]
    return problems + [f"{SEED_ENV}={seed_offset}: {x}" for x in lines if _FAIL_LINE.match(x)]
