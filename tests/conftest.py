"""Shared test settings.

Hypothesis runs derandomized and without deadlines: CI runs on shared, noisy machines, so a
property test must not turn red because of a new random draw or a slow moment. Set
HYPOTHESIS_PROFILE=explore locally to search fresh examples.
"""

import os
import sys
from pathlib import Path

from hypothesis import settings

# The site extension's helpers (notebook forms, editions) are imported by several tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_ext"))

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
