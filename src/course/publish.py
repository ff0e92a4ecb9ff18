"""The public address of the course: one place for owner, repository and branch.

The ``repository:`` section of ``_config.yml`` names the *public* repository, the student
release that learners, Binder, Colab, a class hub and GitHub Pages use (``make release`` writes
it; the instructor's repository with ``solutions/`` stays private). Jupyter Book takes its
repository and launch buttons from there; this module derives everything else the notebooks and
the release need from it: the ``pip install`` of the setup cell, the website's address and the
launch links. ``html.baseurl`` overrides the website's address (a custom domain); by default it
is the GitHub Pages address of the repository. Run ``make notebooks`` after changing either.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import yaml

from course.layout import REPO_ROOT

#: the address the course ships with; a deployer replaces it (README: "Publishing your own copy")
PLACEHOLDER = "https://github.com/bnlab-course/moments-to-batchnorm"
_GITHUB = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


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
