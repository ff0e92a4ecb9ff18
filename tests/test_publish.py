"""course.publish: one place for the public address, everything derived from it."""

from urllib.parse import parse_qs, urlparse

import pytest

from course.publish import read_address


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
