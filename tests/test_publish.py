"""course.publish: one place for the public address, everything derived from it."""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from course import release
from course.publish import PLACEHOLDER, read_address, set_repository


def config(tmp_path, text):
    (tmp_path / "_config.yml").write_text(text)
    return read_address(tmp_path)


REPO = "repository:\n  url: https://github.com/someone/course-public\n  branch: spring\n"


class TestReadAddress:
    def test_owner_repo_branch_and_pages_site(self, tmp_path):
        address = config(tmp_path, REPO)
        assert (address.owner, address.repo, address.branch) == (
            "someone",
            "course-public",
            "spring",
        )
        assert address.site == "https://someone.github.io/course-public/"
        assert address.pip_requirement == (
            "bnlab @ git+https://github.com/someone/course-public@spring"
        )

    def test_baseurl_overrides_the_site(self, tmp_path):
        address = config(tmp_path, REPO + "html:\n  baseurl: https://course.example.org\n")
        assert address.page_url("chapters/01_x", "sec") == (
            "https://course.example.org/chapters/01_x.html#sec"
        )

    def test_not_github_is_refused(self, tmp_path):
        with pytest.raises(
            ValueError, match="repository.url must be https://github.com/OWNER/REPO"
        ):
            config(tmp_path, "repository:\n  url: https://example.org/x\n")


class TestLaunchLinks:
    def test_binder_and_colab_open_the_notebook(self, tmp_path):
        address = config(tmp_path, REPO)
        binder = urlparse(address.binder_url("notebooks/01_x.ipynb"))
        assert binder.path == "/v2/gh/someone/course-public/spring"
        assert parse_qs(binder.query)["urlpath"] == ["lab/tree/notebooks/01_x.ipynb"]
        assert address.colab_url("notebooks/01_x.ipynb") == (
            "https://colab.research.google.com/github/someone/course-public/blob/spring/"
            "notebooks/01_x.ipynb"
        )

    def test_nbgitpuller_clones_the_public_repository(self, tmp_path):
        address = config(tmp_path, REPO)
        link = urlparse(address.nbgitpuller_url("https://hub.example.org/", "notebooks/01_x.ipynb"))
        assert link.path == "/hub/user-redirect/git-pull"
        query = parse_qs(link.query)
        assert query["repo"] == ["https://github.com/someone/course-public"]
        assert query["branch"] == ["spring"]
        assert query["urlpath"] == ["lab/tree/course-public/notebooks/01_x.ipynb"]


CONFIG = """\
# the public address
repository:
  url: https://github.com/bnlab-course/moments-to-batchnorm  # placeholder
  path_to_book: ""
  branch: main

html:
  use_repository_button: true
"""


class TestSetRepository:
    def test_names_the_repository_and_keeps_the_rest(self, tmp_path):
        (tmp_path / "_config.yml").write_text(CONFIG)
        address = set_repository(tmp_path, "another-owner/bn-fork", "teaching")
        assert (address.owner, address.repo, address.branch) == (
            "another-owner",
            "bn-fork",
            "teaching",
        )
        text = (tmp_path / "_config.yml").read_text()
        assert text == CONFIG.replace(
            "bnlab-course/moments-to-batchnorm  # placeholder", "another-owner/bn-fork"
        ).replace("branch: main", "branch: teaching")

    def test_adds_a_missing_branch(self, tmp_path):
        (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/a/b\n")
        assert set_repository(tmp_path, "c/d", "trunk").branch == "trunk"

    @pytest.mark.parametrize(
        ("repository", "branch", "message"),
        [
            ("no-slash", "main", "repository must be OWNER/REPO"),
            ("a/b/c", "main", "repository must be OWNER/REPO"),
            ("a/b", "x; rm -rf /", "branch must be a branch name"),
            ("a/b", "", "branch must be a branch name"),
        ],
    )
    def test_bad_names_are_refused(self, tmp_path, repository, branch, message):
        (tmp_path / "_config.yml").write_text(CONFIG)
        with pytest.raises(ValueError, match=message):
            set_repository(tmp_path, repository, branch)
        assert (tmp_path / "_config.yml").read_text() == CONFIG


FORK = ("another-owner", "bn-course-fork", "teaching")
# every address that names a repository, a branch or a site
_LINK = re.compile(
    r"https://(?:github\.com/|colab\.research\.google\.com/github/|mybinder\.org/v2/gh/)"
    r"([\w.-]+)/([\w.-]+)(?:/(?:blob|tree)/|/)?([\w.-]*)|https://([\w.-]+)\.github\.io/([\w.-]+)"
)


@pytest.fixture(scope="module")
def fork(tmp_path_factory):
    """A student release published by a fork: its workflow's step, with GitHub's variables."""
    tree = release.write_release(tmp_path_factory.mktemp("fork") / "public")
    env = {
        **os.environ,
        "PYTHONPATH": str(tree / "src"),
        "GITHUB_REPOSITORY": f"{FORK[0]}/{FORK[1]}",
        "GITHUB_REF_NAME": FORK[2],
    }
    step = "python -m course.publish --from-github --readme"
    assert step in release.WORKFLOW
    proc = subprocess.run(
        [sys.executable, *step.split()[1:]], cwd=tree, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return tree


class TestFork:
    """A fork that publishes itself: no link of its release names the placeholder."""

    def test_no_file_names_the_placeholder(self, fork):
        owner = urlparse(PLACEHOLDER).path.split("/")[1]
        found = [
            p.relative_to(fork).as_posix()
            for p in fork.rglob("*")
            if p.is_file()
            and p.name != "publish.py"  # where the placeholder is defined
            and p.suffix in (".md", ".ipynb", ".yml", ".txt", ".py", ".toml")
            and owner in p.read_text(errors="replace")
        ]
        assert not found

    def test_every_link_names_the_fork(self, fork):
        links = []
        for path in [fork / "README.md", fork / "_config.yml", *(fork / "notebooks").glob("*")]:
            links += [(path.name, m) for m in _LINK.finditer(path.read_text())]
        assert len(links) >= 20, links
        for name, match in links:
            owner, repo, branch, site_owner, site_repo = match.groups()
            if site_owner:
                assert (site_owner, site_repo) == FORK[:2], (name, match.group(0))
            else:
                assert (owner, repo) == FORK[:2], (name, match.group(0))
                assert branch in ("", FORK[2], "notebooks", "exercises"), (name, match.group(0))

    def test_setup_cells_install_the_fork(self, fork):
        setup = f"bnlab @ git+https://github.com/{FORK[0]}/{FORK[1]}@{FORK[2]}"
        for path in sorted((fork / "notebooks").glob("*.ipynb")):
            assert setup in path.read_text(), path.name

    def test_launch_buttons_open_the_fork(self, fork):
        # the Sphinx configuration Jupyter Book derives from _config.yml (the launch buttons)
        jupyter_book = Path(sys.executable).with_name("jupyter-book")
        env = {**os.environ, "PYTHONPATH": str(fork / "src")}
        proc = subprocess.run(
            [str(jupyter_book), "config", "sphinx", "."], cwd=fork, env=env, capture_output=True
        )
        assert proc.returncode == 0, proc.stderr
        conf = (fork / "conf.py").read_text()
        assert f"'repository_url': 'https://github.com/{FORK[0]}/{FORK[1]}'" in conf
        assert f"'repository_branch': '{FORK[2]}'" in conf

    def test_the_workflow_hard_codes_no_branch_or_repository(self, fork):
        workflow = (fork / ".github" / "workflows" / "deploy.yml").read_text()
        assert "default_branch" in workflow and "--from-github" in workflow
        assert "branches:" not in workflow and "github.com/" not in workflow
