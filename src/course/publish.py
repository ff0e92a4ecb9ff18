"""The public address of the course: one place for owner, repository and branch.

The ``repository:`` section of ``_config.yml`` names the *public* repository, the student
release that learners, Binder, Colab, a class hub and GitHub Pages use (``make release`` writes
it; the instructor's repository with ``solutions/`` stays private). Jupyter Book takes its
repository and launch buttons from there; this module derives everything else the notebooks and
the release need from it: the ``pip install`` of the setup cell, the website's address and the
launch links. ``html.baseurl`` overrides the website's address (a custom domain); by default it
is the GitHub Pages address of the repository. Run ``make notebooks`` after changing either.

A fork names itself: ``python -m course.publish --from-github`` (what the release's Pages
workflow runs) takes the repository and branch from GitHub's own variables (``GITHUB_REPOSITORY``,
``GITHUB_REF_NAME``), writes them into ``_config.yml``, regenerates the notebook forms and, with
``--readme``, the release's README, so that every launch button, setup cell and link opens the
repository the workflow runs in.
"""

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import yaml

from course.layout import REPO_ROOT

#: the address the course ships with; a deployer replaces it (README: "Publishing your own copy")
PLACEHOLDER = "https://github.com/bnlab-course/moments-to-batchnorm"
_GITHUB = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")
_OWNER_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")
_BRANCH = re.compile(r"^[\w./-]+$")


@dataclass(frozen=True)
class Address:
    """Owner, repository and branch of the public repository, and the website's address."""

    owner: str
    repo: str
    branch: str
    site: str

    @property
    def repo_url(self):
        return f"https://github.com/{self.owner}/{self.repo}"

    @property
    def pip_requirement(self):
        """What the setup cell installs where ``bnlab`` is missing (Colab, a class hub)."""
        return f"bnlab @ git+{self.repo_url}@{self.branch}"

    def page_url(self, docname, anchor=""):
        """Address of page `docname` (``chapters/05_bn_backward``) on the website."""
        return f"{self.site}{docname}.html" + (f"#{anchor}" if anchor else "")

    def binder_url(self, path):
        query = urlencode({"urlpath": f"lab/tree/{path}"})
        return f"https://mybinder.org/v2/gh/{self.owner}/{self.repo}/{self.branch}?{query}"

    def colab_url(self, path):
        return (
            f"https://colab.research.google.com/github/{self.owner}/{self.repo}"
            f"/blob/{self.branch}/{path}"
        )

    def nbgitpuller_url(self, hub, path):
        """A class hub's launch link: nbgitpuller clones the release into each home."""
        query = urlencode(
            {
                "repo": self.repo_url,
                "branch": self.branch,
                "urlpath": f"lab/tree/{self.repo}/{path}",
            },
            quote_via=quote,
        )
        return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def read_address(root=REPO_ROOT):
    """The :class:`Address` that ``_config.yml`` of the book at `root` names."""
    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    repository = config.get("repository") or {}
    match = _GITHUB.match(repository.get("url", ""))
    if not match:
        raise ValueError(
            "_config.yml: repository.url must be https://github.com/OWNER/REPO, "
            f"got {repository.get('url')!r}"
        )
    owner, repo = match.groups()
    site = (config.get("html") or {}).get("baseurl") or f"https://{owner}.github.io/{repo}/"
    return Address(owner, repo, repository.get("branch", "main"), site.rstrip("/") + "/")


def set_repository(root, repository, branch):
    """Name `repository` (``OWNER/REPO``) and `branch` in ``_config.yml`` of the book at `root`.

    Only the ``url:`` and ``branch:`` lines of its ``repository:`` section change (comments and
    everything else stay); returns the new :class:`Address`.
    """
    if not isinstance(repository, str) or not _OWNER_REPO.match(repository):
        raise ValueError(
            f"repository must be OWNER/REPO (as GITHUB_REPOSITORY), got {repository!r}"
        )
    if not isinstance(branch, str) or not _BRANCH.match(branch) or ".." in branch:
        raise ValueError(f"branch must be a branch name (as GITHUB_REF_NAME), got {branch!r}")
    path = Path(root) / "_config.yml"
    text = path.read_text()
    section = re.search(r"^repository:[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", text, re.M)
    if not section or not re.search(r"^[ \t]+url:", section.group(1), re.M):
        raise ValueError(f"{path}: no repository: section with a url: line")
    body = re.sub(
        r"^([ \t]+url:).*$", rf"\1 https://github.com/{repository}", section.group(1), flags=re.M
    )
    if re.search(r"^[ \t]+branch:", body, re.M):
        body = re.sub(r"^([ \t]+branch:).*$", rf"\1 {branch}", body, flags=re.M)
    else:
        indent = re.match(r"[ \t]+", body).group(0)
        body = body.rstrip("\n") + f"\n{indent}branch: {branch}\n"
    path.write_text(text[: section.start(1)] + body + text[section.end(1) :])
    return read_address(root)


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
below it: the visible tests give instant feedback on shapes and sanity. To check a whole
notebook part by part, save it and run

```bash
.venv/bin/python -m bnlab.selfcheck exercises/ps3_bn_forward/bn_forward.ipynb
```

(or `from bnlab.selfcheck import check; check()` in a cell of the notebook, Colab included): it
runs the visible tests in a fresh Python and says, part by part, what passed, what failed and by
how much. The hidden tests that decide the grade are not in this repository; your instructor
runs them on your submission.

## Publishing a copy (a fork)

Fork this repository, then in the fork choose Settings -> Pages -> Source: GitHub Actions, and
push to its default branch (or run the workflow "deploy" by hand). The workflow
(`.github/workflows/deploy.yml`) names the repository and branch it runs in, from GitHub's own
variables, in `_config.yml`, in the setup cell and links of every notebook in `notebooks/` and in
this README (`python -m course.publish --from-github --readme`), commits that change, and builds
the website, so that its Binder and Colab buttons open your fork. Nothing needs editing by hand;
for a custom domain set `html.baseurl` in `_config.yml`.

This repository is generated from the instructor's course repository; changes belong there.
"""


def readme(root, address=None):
    """The release's README for the book at `root`, its links built from `address`."""
    from course.notebook_forms import chapter_sources, notebook_path

    address = address or read_address(root)
    first = notebook_path(chapter_sources(root)[0])
    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    hub = (config.get("launch_buttons") or {}).get("jupyterhub_url")
    hub_row = f"| Class hub | [open the course]({address.nbgitpuller_url(hub, first)}) |\n"
    return README.format(
        site=address.site,
        repo_url=address.repo_url,
        binder=address.binder_url(first),
        colab=address.colab_url(first),
        hub_row=hub_row if hub else "",
    )


def main(argv=None, environ=None):
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description="Name the public repository in the course.")
    parser.add_argument("--repository", help="OWNER/REPO (default with --from-github)")
    parser.add_argument("--branch", help="the branch (default with --from-github)")
    parser.add_argument(
        "--from-github",
        action="store_true",
        help="take them from GITHUB_REPOSITORY and GITHUB_REF_NAME (a GitHub Actions run)",
    )
    parser.add_argument("--readme", action="store_true", help="also rewrite README.md")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the book (default: .)")
    args = parser.parse_args(argv)
    repository, branch = args.repository, args.branch
    if args.from_github:
        repository = repository or environ.get("GITHUB_REPOSITORY")
        branch = branch or environ.get("GITHUB_REF_NAME")
    if not repository or not branch:
        parser.error("give --repository and --branch, or --from-github in a GitHub Actions run")
    from course.notebook_forms import write_exercise_setup, write_notebooks

    address = set_repository(args.root, repository, branch)
    changed = write_notebooks(args.root) + write_exercise_setup(args.root)
    if args.readme:
        (args.root / "README.md").write_text(readme(args.root, address))
    print(f"{args.root}: links name {address.repo_url} ({address.branch}), site {address.site}")
    print(f"notebooks rewritten: {len(changed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
