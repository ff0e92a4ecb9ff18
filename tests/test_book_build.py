"""The book build fails loudly: on a cell that raises, and on a cell that warns.

Jupyter Book 1 only logs a failed execution by default. `_config.yml` turns that into an error
(`nb_execution_raise_on_error`, `stderr_output: warn` under `--warningiserror`); these tests build
a small temp copy of the book with one extra page and check the exit status.

They build it as `make book` does: the page is executed into the execution cache first
(`python -m course.execute_cache`), then the build reads it from there; the build alone must
still fail on its own when it executes a page itself.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
HEADER = (ROOT / "chapters" / "01_expectation_variance.md").read_text().split("---", 2)[1]


def build_with_page(tmp_path, code, precache=True):
    """Build intro + one notebook page whose only cell is `code`; return (returncode, log).

    With `precache`, as `make book`: execute the page into the cache, and stop if that fails.
    Both steps run in the copy, so its cache (a path relative to the cwd) is its own.
    """
    book = tmp_path / "book"
    book.mkdir()
    for name in ("_config.yml", "references.bib", "intro.md"):
        shutil.copy(ROOT / name, book / name)
    for folder in ("_ext", "_static"):
        shutil.copytree(ROOT / folder, book / folder)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: probe\n")
    (book / "probe.md").write_text(
        f"---{HEADER}---\n\n# Probe\n\n```{{code-cell}} ipython3\n{code}\n```\n"
    )
    intro = book / "intro.md"
    # the probe book has no table of contents and no learner guide to link to
    text = intro.read_text().replace("```{tableofcontents}\n```", "")
    intro.write_text(re.sub(r"\{ref\}`([^<`]*?) <[^>`]*>`", r"\1", text))
    steps = [[str(JUPYTER_BOOK), "build", ".", "--warningiserror", "--nitpick", "--keep-going"]]
    if precache:
        steps.insert(0, [sys.executable, "-m", "course.execute_cache", "probe.md"])
    log = ""
    for step in steps:
        proc = subprocess.run(step, cwd=book, capture_output=True, text=True, timeout=300)
        log += proc.stdout + proc.stderr
        if proc.returncode != 0:
            break
    return proc.returncode, log


@pytest.mark.book
class TestBuildFails:
    def test_clean_page_builds_from_the_cache(self, tmp_path, monkeypatch):
        # executed as myst-nb would: the page's folder as cwd, the environment inherited
        monkeypatch.setenv("BNLAB_PROBE", "inherited")
        probe = "import os\nassert os.environ['BNLAB_PROBE'] == 'inherited'\nprint(os.getcwd())"
        code, log = build_with_page(tmp_path, probe)
        assert code == 0, log[-3000:]
        assert "[execute_cache] probe.md:" in log
        assert "Using cached notebook" in log and "Executing notebook" not in log
        page = (tmp_path / "book" / "_build" / "html" / "probe.html").read_text()
        assert str(tmp_path / "book") in page
        again = subprocess.run(
            [sys.executable, "-m", "course.execute_cache", "probe.md"],
            cwd=tmp_path / "book",
            capture_output=True,
            text=True,
        )
        assert "0 of 1 notebook(s) to execute" in again.stdout, again.stdout + again.stderr

    @pytest.mark.parametrize("precache", [True, False], ids=["make-book", "build-alone"])
    def test_raising_cell_fails_build(self, tmp_path, precache):
        code, log = build_with_page(tmp_path, "raise RuntimeError('deliberate failure')", precache)
        assert code != 0
        assert "deliberate failure" in log

    def test_warning_in_cell_fails_build(self, tmp_path):
        code, log = build_with_page(
            tmp_path, "import warnings\nwarnings.warn('deliberate warning')"
        )
        assert code != 0
        assert "Using cached notebook" in log  # the build checks cached outputs too
        assert "stderr was found in the cell outputs" in log
