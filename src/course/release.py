"""The student release: the public tree learners, Binder, Colab, a class hub and GitHub Pages use.

The course repository is the instructor's: it keeps ``solutions/`` (every solution and hidden
test), the nbgrader configuration and the grading tooling. The release holds what a learner may
see: the chapters and their notebook forms, the nbgrader release ``exercises/``, the reference
package ``bnlab`` (public by design), the website's sources and the site tooling that builds them
(``course.layout``, ``course.notebooks``, ``course.myst_to_ipynb``, ``course.publish``,
``course.execute_cache``: they read no solution), the Binder environment, a GitHub Pages
workflow and a learner README. Push it to the repository that ``_config.yml`` names.

    python -m course.release [DEST]    # default _build/student-release; make release DEST=...

An existing DEST keeps its ``.git`` (a clone of the public repository) and loses everything else.
"""

import argparse
import shutil
import sys
from pathlib import Path

import yaml

from course.layout import CHAPTERS, EXERCISES, NOTEBOOKS, REPO_ROOT
from course.publish import PLACEHOLDER, read_address

DEFAULT_DEST = "_build/student-release"

#: folders and files copied as they are
TREE = (
    CHAPTERS,
    NOTEBOOKS,
    EXERCISES,
    "pages",
    "_ext",
    "_static",
    "binder",
    "src/bnlab",
    "benchmarks/results",
    "_config.yml",
    "_toc.yml",
    "intro.md",
    "references.bib",
    "requirements.txt",
    "pyproject.toml",
)
#: the site tooling of ``course`` that the book build imports
SITE_TOOLING = (
    "__init__.py",
    "layout.py",
    "notebooks.py",
    "myst_to_ipynb.py",
    "publish.py",
    "execute_cache.py",
)
SKIP = shutil.ignore_patterns(
    ".ipynb_checkpoints", "__pycache__", "*.pyc", "*.egg-info", "_build", ".git"
)

GITIGNORE = """\
.venv/
_build/
__pycache__/
*.egg-info/
.ipynb_checkpoints/
"""

WORKFLOW = """\
# Build the book (student edition) and publish it on GitHub Pages
# (Settings -> Pages -> Source: GitHub Actions).
name: deploy

on:
  push:
    branches: [{branch}]
  workflow_dispatch:

permissions:
  contents: read
  pages: write
  id-token: write

concurrency:
  group: pages
  cancel-in-progress: false

jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the pinned environment (CPU torch)
        run: |
          python -m pip install --index-url https://download.pytorch.org/whl/cpu --no-deps \\
            "$(grep '^torch==' requirements.txt)"
          python -m pip install -r requirements.txt
          python -m pip install --no-deps -e .
      - name: Build the book (fails on any warning, cell error or stderr)
        run: |
          python -m course.execute_cache
          jupyter-book build . --warningiserror --nitpick --keep-going
      - uses: actions/upload-pages-artifact@v3
        with:
          path: _build/html

  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment:
      name: github-pages
      url: ${{{{ steps.deployment.outputs.page_url }}}}
    steps:
      - id: deployment
        uses: actions/deploy-pages@v4
"""

README = """\
# From Moments to Batch Normalization

An open course that starts at expectation and variance and ends at batch normalization as it is
really implemented and used: nine chapters of executable notebooks and six auto-graded problem
sets. Read it on the website, {site}, or run it:

| | |
|---|---|
| Binder | [open the course]({binder}) |
| Colab | [open chapter 1]({colab}) (every chapter has a Colab button on the website) |
{hub_row}| On your machine | `git clone {repo_url}`, then the commands below |

## What is here

- `chapters/`: the chapters as MyST Markdown (the website's source);
- `notebooks/`: the same chapters as Jupyter notebooks (what Binder, Colab and a class hub open);
- `exercises/`: the problem sets, one notebook each;
- `src/bnlab/`: the course's Python package, the reference implementations the chapters import.

## Running it on your machine

With Python 3.11:

```bash
python -m venv .venv
.venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu --no-deps \\
  "$(grep '^torch==' requirements.txt)"
.venv/bin/pip install -r requirements.txt
.venv/bin/pip install --no-deps -e .
.venv/bin/jupyter lab
```

## The exercises

Open a notebook in `exercises/`, fill in every cell that says `YOUR CODE HERE`, and run the cells
below it: the visible tests give instant feedback on shapes and sanity. The hidden tests that
decide the grade are not in this repository; your instructor runs them on your submission.

This repository is generated from the instructor's course repository; changes belong there.
"""


def _copy(root, dest, rel):
    source = Path(root) / rel
    target = Path(dest) / rel
    if not source.exists():
        raise FileNotFoundError(f"{rel} is missing from {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, ignore=SKIP)
    else:
        shutil.copy2(source, target)


def _clear(dest):
    for child in dest.iterdir() if dest.exists() else ():
        if child.name == ".git":
            continue
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def write_release(dest=DEFAULT_DEST, root=REPO_ROOT):
    """Write the student release of the course at `root` into `dest`; return `dest`."""
    root, dest = Path(root), Path(dest)
    if dest.resolve() == root.resolve():
        raise ValueError("the release cannot replace the course repository itself")
    address = read_address(root)
    _clear(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for rel in TREE:
        _copy(root, dest, rel)
    for name in SITE_TOOLING:
        _copy(root, dest, f"src/course/{name}")
    first = sorted((root / NOTEBOOKS).glob("*.ipynb"))[0].relative_to(root).as_posix()
    config = yaml.safe_load((root / "_config.yml").read_text())
    hub = (config.get("launch_buttons") or {}).get("jupyterhub_url")
    hub_row = f"| Class hub | [open the course]({address.nbgitpuller_url(hub, first)}) |\n"
    (dest / "README.md").write_text(
        README.format(
            site=address.site,
            repo_url=address.repo_url,
            binder=address.binder_url(first),
            colab=address.colab_url(first),
            hub_row=hub_row if hub else "",
        )
    )
    (dest / ".gitignore").write_text(GITIGNORE)
    workflow = dest / ".github" / "workflows" / "deploy.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(WORKFLOW.format(branch=address.branch))
    return dest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", default=DEFAULT_DEST, type=Path)
    args = parser.parse_args(argv)
    dest = write_release(args.dest)
    address = read_address()
    print(f"wrote the student release to {dest}; push it to {address.repo_url}")
    if address.repo_url == PLACEHOLDER:
        print(
            f"WARNING: {PLACEHOLDER} is the placeholder of _config.yml: set repository.url and "
            "branch to your public repository, then make notebooks and make release again",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
