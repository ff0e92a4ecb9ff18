"""The Colab path, run for real: every notebook form, top to bottom, with only Colab's packages.

A fresh virtual environment gets what Colab ships that the course needs (numpy, scipy,
matplotlib, torch's CPU build, scikit-learn, sympy, ipywidgets, and ipykernel to run them) at the
pinned versions, and nothing else: no ``bnlab``, no myst-nb, no course tooling. The student
release is written and committed to a local git repository, and each notebook's setup cell is
pointed at it (``bnlab @ git+file://...``), as Colab's would install from the public repository.
Each notebook then runs in an empty folder, as in Colab's ``/content``.

Slow (a venv with torch, then every chapter): ``make test-colab`` runs it (``BNLAB_TEST_COLAB=1``).
"""

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

from course import notebook_forms as cn
from course import release

ROOT = Path(__file__).resolve().parents[1]
COLAB_PACKAGES = (
    "numpy",
    "scipy",
    "matplotlib",
    "torch",
    "scikit-learn",
    "sympy",
    "ipywidgets",
    "ipykernel",
)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "colab-like"

pytestmark = [
    pytest.mark.colab,
    pytest.mark.skipif(
        not os.environ.get("BNLAB_TEST_COLAB"), reason="slow: run with make test-colab"
    ),
]


def pinned(names):
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(0)
    return [pins[name] for name in names]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)
    )
    return {**env, **extra}


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """``(python, requirement)``: the Colab-like interpreter and the release to install from."""
    base = tmp_path_factory.mktemp("colab")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # torch first and alone, as the Makefile installs it: pip's find-links hold the CPU wheel
    (torch,) = pinned(["torch"])
    subprocess.run([*pip, "--no-deps", torch], check=True, env=clean_env())
    subprocess.run([*pip, *pinned(COLAB_PACKAGES)], check=True, env=clean_env())
    for module in ("bnlab", "myst_nb", "course", "jupyter_book"):
        found = subprocess.run(
            [str(python), "-c", f"import importlib.util as u; print(u.find_spec('{module}'))"],
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(),
        )
        assert found.stdout.strip() == "None", f"{module} in the Colab-like venv"
    public = release.write_release(base / "public")
    git = ["git", "-C", str(public), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "--quiet", "--initial-branch", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "release"], check=True)
    spec = base / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    return base, f"bnlab @ git+file://localhost{public}@main"  # pip 23 wants a host


def point_setup_cell(nb, requirement):
    setup = [c for c in nb.cells if cn.SETUP_TAG in c.metadata.get("tags", [])]
    assert len(setup) == 1
    source, n = re.subn(r'^BNLAB = ".*"$', f'BNLAB = "{requirement}"', setup[0].source, flags=re.M)
    assert n == 1, setup[0].source
    setup[0].source = source


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(colab, notebook, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    base, requirement = colab
    nb = nbformat.read(notebook, as_version=4)
    point_setup_cell(nb, requirement)
    monkeypatch.setenv("JUPYTER_PATH", str(base))
    client = NotebookClient(
        nb,
        timeout=1800,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=clean_env(OMP_NUM_THREADS="1"))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert not re.search(r"^FAIL", text, re.M)
