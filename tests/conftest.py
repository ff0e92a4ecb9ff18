"""Shared test settings.

Hypothesis runs derandomized and without deadlines: CI runs on shared, noisy machines, so a
property test must not turn red because of a new random draw or a slow moment. Set
HYPOTHESIS_PROFILE=explore locally to search fresh examples.
"""

import json
import os
import random
import re
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# The seed offset of tests/test_chapters_random.py: drawn once per run by the controlling process
# (xdist workers inherit it through the environment), printed in the header. BNLAB_TEST_SEED=k
# replays a run; offsets 0, 1 and 2 are the book's and the fixed tests' own.
RANDOM_SEED_ENV = "BNLAB_TEST_SEED"


def pytest_configure(config):
    raw = os.environ.get(RANDOM_SEED_ENV, "").strip()
    if not raw:
        os.environ[RANDOM_SEED_ENV] = str(random.SystemRandom().randrange(3, 100_000))
    elif not raw.isdigit():
        raise pytest.UsageError(f"{RANDOM_SEED_ENV} must be a non-negative integer, got {raw!r}")


def pytest_report_header(config):
    offset = os.environ[RANDOM_SEED_ENV]
    return [
        f"chapters under a random seed offset: BNLAB_SEED={offset} (tests/test_chapters_random.py;"
        f" replay: {RANDOM_SEED_ENV}={offset} make test)"
    ]


# What a student may never see, by the tests' own rule, written apart from the course's
# (course.layout.secret_lines) so that a leak check cannot share the generator's blind spot:
# every line of at least MIN_SECRET characters inside an nbgrader solution or hidden-test region
# (to the end of the cell if it is not closed), and of a markdown solution cell without markers
# (nbgrader replaces all of it). THE leak oracle of the tests: every leak test reads its secrets
# and regions here (fixtures secrets_of and region_of), and adds only what it deems public.
#: the course's own minimum (a shorter line, ``return y``, says nothing), written here again
MIN_SECRET = 12
_REGION = re.compile(
    r"^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS)[ \t]*\n(.*?)(?:^[ \t]*### END \1[ \t]*$|\Z)",
    re.M | re.S,
)
_KINDS = {"SOLUTION", "HIDDEN TESTS"}


def nbgrader_region(source, kind):
    """The text inside every region of `kind` ("SOLUTION" or "HIDDEN TESTS") of `source`."""
    return "\n".join(m.group(2) for m in _REGION.finditer(source) if m.group(1) == kind)


def nbgrader_secrets(solutions, kinds=_KINDS):
    """``{line: notebook}`` of the secret lines of every notebook under `solutions` (a folder,
    or one notebook)."""
    found, solutions = {}, Path(solutions)
    paths = [solutions] if solutions.suffix == ".ipynb" else sorted(solutions.rglob("*.ipynb"))
    for path in paths:
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            regions = [m.group(2) for m in _REGION.finditer(source) if m.group(1) in kinds]
            solution = cell.get("metadata", {}).get("nbgrader", {}).get("solution")
            markdown = cell["cell_type"] == "markdown"
            if markdown and solution and "SOLUTION" in kinds and "### BEGIN" not in source:
                regions.append(source)
            for line in "\n".join(regions).splitlines():
                if len(line.strip()) >= MIN_SECRET and "### " not in line:
                    found.setdefault(line.strip(), path)
    return found


@pytest.fixture(scope="session")
def secrets_of():
    """``secrets_of(solutions_dir, kinds={"SOLUTION", "HIDDEN TESTS"})``: the secret lines."""
    return nbgrader_secrets


@pytest.fixture(scope="session")
def region_of():
    """``region_of(source, kind)``: the text of the `kind` regions of a cell's `source`."""
    return nbgrader_region


@pytest.fixture(scope="module")
def one_thread():
    """Tiny nets run fastest on one thread; two threads on a busy shared CPU spin for seconds."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def blobs():
    """``blobs(n=120, d=5, k=3, seed=0) -> (X, y)``: three well separated Gaussian blobs, float32,
    a problem any of the small nets of bnlab.models learns in a few steps."""
    import torch

    def make(n=120, d=5, k=3, seed=0):
        gen = torch.Generator().manual_seed(seed)
        y = torch.arange(n) % k
        centers = 3 * torch.eye(k, d)
        return centers[y] + 0.5 * torch.randn(n, d, generator=gen), y

    return make


@pytest.fixture(scope="session")
def digits64():
    """The digits split of seed 0 as float64 tensors ``(X_train, y_train, X_val, y_val)``: what
    the stacked networks are compared on, where round-off must stay far below any tolerance."""
    import numpy as np
    import torch

    from bnlab.data import load_digits

    return tuple(torch.as_tensor(a) for a in load_digits(seed=0, dtype=np.float64))
