"""The book build fails loudly: on a cell that raises, and on a cell that warns.

Jupyter Book 1 only logs a failed execution by default. `_config.yml` turns that into an error
(`nb_execution_raise_on_error`, `stderr_output: warn` under `--warningiserror`); these tests build
a small temp copy of the book with one extra page and check the exit status.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
HEADER = (ROOT / "chapters" / "01_expectation_variance.md").read_text().split("---", 2)[1]


def build_with_page(tmp_path, code):
    """Build intro + one notebook page whose only cell is `code`; return (returncode, log)."""
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
    intro.write_text(intro.read_text().replace("```{tableofcontents}\n```", ""))
    proc = subprocess.run(
        [str(JUPYTER_BOOK), "build", str(book), "--warningiserror", "--nitpick", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.book
class TestBuildFails:
    def test_clean_page_builds(self, tmp_path):
        code, log = build_with_page(tmp_path, "print(1 + 1)")
        assert code == 0, log[-3000:]

    def test_raising_cell_fails_build(self, tmp_path):
        code, log = build_with_page(tmp_path, "raise RuntimeError('deliberate failure')")
        assert code != 0
        assert "deliberate failure" in log

    def test_warning_in_cell_fails_build(self, tmp_path):
        code, log = build_with_page(
            tmp_path, "import warnings\nwarnings.warn('deliberate warning')"
        )
        assert code != 0
        assert "stderr was found in the cell outputs" in log
