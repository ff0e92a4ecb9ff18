"""The student release: the public tree learners, Binder, Colab, a class hub and GitHub Pages use.

The course repository is the instructor's: it keeps ``solutions/`` (every solution and hidden
test), the nbgrader configuration and the grading tooling. The release holds what a learner may
see: the chapters and their notebook forms, the nbgrader release ``exercises/``, the reference
package ``bnlab`` (public by design), the website's sources and the site tooling that builds them
(``course.layout``, ``course.notebook_forms``, ``course.exercise_pages``,
``course.chapter_times``, ``course.myst_to_ipynb``, ``course.crosslinks``, ``course.publish``,
``course.execute_cache``: they read no solution), the Binder environment, a
GitHub Pages workflow that names the repository it runs in (a fork publishes itself) and a
learner README.
Push it to the repository that ``_config.yml`` names.

    python -m course.release [DEST]    # default _build/student-release; make release DEST=...

An existing DEST keeps its ``.git`` (a clone of the public repository) and loses everything else.
"""

import argparse
import shutil
import sys
from pathlib import Path

from course.layout import CHAPTERS, EXERCISES, NOTEBOOKS, REPO_ROOT
from course.publish import PLACEHOLDER, read_address, readme

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
    "notebook_forms.py",
    "exercise_pages.py",
    "chapter_times.py",
    "myst_to_ipynb.py",
    "crosslinks.py",
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
# (Settings -> Pages -> Source: GitHub Actions). The repository and branch come from GitHub's own
# variables: a fork names itself in _config.yml, the notebooks and the README (course.publish),
# commits that, and gets a site whose launch buttons open the fork.
name: deploy

on:
  push:
  workflow_dispatch:

permissions:
  contents: write
  pages: write
  id-token: write

concurrency:
  group: pages
  cancel-in-progress: false

jobs:
  build:
    if: github.ref_name == github.event.repository.default_branch
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
      - name: Name this repository and branch in the links (GITHUB_REPOSITORY, GITHUB_REF_NAME)
        run: |
          python -m course.publish --from-github --readme
          if [ -n "$(git status --porcelain)" ]; then
            git config user.name "github-actions[bot]"
            git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
            git commit -qam "Links name $GITHUB_REPOSITORY ($GITHUB_REF_NAME): course.publish"
            git push
          fi
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
      url: ${{ steps.deployment.outputs.page_url }}
    steps:
      - id: deployment
        uses: actions/deploy-pages@v4
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
    (dest / "README.md").write_text(readme(root, address))
    (dest / ".gitignore").write_text(GITIGNORE)
    workflow = dest / ".github" / "workflows" / "deploy.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(WORKFLOW)
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
