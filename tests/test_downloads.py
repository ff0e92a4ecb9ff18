"""The ``.ipynb`` download of an executed page carries its outputs, also from the cache.

A small book with one chapter is built as ``make book`` builds: executed into the cache first,
then the build only reads it ("Using cached notebook"). The download of the chapter must be its
notebook form with every output and the glued value in the text. The downloads of the real site
are checked too when it has been built.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
SITE = Path(os.environ.get("BNLAB_SITE", ROOT / "_build" / "html"))
HEADER = (ROOT / "chapters" / "01_expectation_variance.md").read_text().split("---", 2)[1]
CHAPTER = f"""---{HEADER}---

(ch-probe)=
# Probe

```{{code-cell}} ipython3
from bnlab.glue import glue

print("hello from the probe")
glue("answer", 42.0)
```

The answer is {{glue:text}}`answer:.1f`, see {{ref}}`ch-probe`.
"""


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.fixture(scope="module")
def probe_site(tmp_path_factory):
    book = tmp_path_factory.mktemp("downloads") / "book"
    book.mkdir()
    for name in ("_config.yml", "references.bib", "intro.md"):
        shutil.copy(ROOT / name, book / name)
    for folder in ("_ext", "_static", "pages"):
        shutil.copytree(ROOT / folder, book / folder)
    (book / "chapters").mkdir()
    (book / "chapters" / "01_probe.md").write_text(CHAPTER)
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: chapters/01_probe\n"
    )
    intro = book / "intro.md"
    intro.write_text(intro.read_text().replace("```{tableofcontents}\n```", ""))
    log = ""
    for step in (
        [sys.executable, "-m", "course.execute_cache", "chapters/01_probe.md"],
        [str(JUPYTER_BOOK), "build", ".", "--keep-going"],
    ):
        proc = subprocess.run(step, cwd=book, capture_output=True, text=True, timeout=600)
        log += proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-3000:]
    assert "Using cached notebook" in log and "Executing notebook" not in log
    return book / "_build" / "html"


@pytest.mark.book
class TestDownloadFromTheCache:
    def test_chapter_download_has_its_outputs(self, probe_site):
        nb = nbformat.read(probe_site / "_sources" / "chapters" / "01_probe.ipynb", as_version=4)
        texts = [o.get("text", "") for o in _outputs(nb)]
        assert any("hello from the probe" in t for t in texts)

    def test_chapter_download_is_the_notebook_form(self, probe_site):
        nb = nbformat.read(probe_site / "_sources" / "chapters" / "01_probe.ipynb", as_version=4)
        markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "The answer is 42.0, see [Probe](" in markdown
        assert not re.search(r"\{[\w:]+\}`|^\(.*\)=$", markdown, re.M)
        assert any("course-setup" in c.metadata.get("tags", []) for c in nb.cells)

    def test_the_page_offers_that_download(self, probe_site):
        page = (probe_site / "chapters" / "01_probe.html").read_text()
        assert "_sources/chapters/01_probe.ipynb" in page


@pytest.mark.skipif(not (SITE / "_sources" / "chapters").is_dir(), reason="make book first")
@pytest.mark.parametrize("chapter", sorted((ROOT / "chapters").glob("*.md")), ids=lambda p: p.stem)
def test_site_download_has_outputs(chapter):
    download = SITE / "_sources" / "chapters" / f"{chapter.stem}.ipynb"
    nb = json.loads(download.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert sum(bool(c.get("outputs")) for c in code) >= len(code) // 2, download
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert not re.search(r"\{[\w:]+\}`|^\(.*\)=$", markdown, re.M), download
