"""The PDF of the whole book (``make pdf``), built and read back (``make test-pdf``).

It runs only with ``BNLAB_TEST_PDF=1``, which ``make test`` and ``make test-pdf`` set: ``make pdf``
takes about 75 s once the book's execution cache is current (74 s measured on a loaded machine,
the single-page build from scratch and about 35 s of printing), longer after a change to a
chapter, which executes again first.
The expectations come from the sources, not from the builder: the chapter titles are the first
headings of ``chapters/*.md``, the figures their figure cells, the equation numbers their labelled
``{math}`` blocks; the PDF is read with poppler's ``pdfinfo``, ``pdftotext`` and ``pdfimages``.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PDF = ROOT / "_build" / "pdf" / "book.pdf"
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
POPPLER = ("pdfinfo", "pdftotext", "pdfimages")

pytestmark = [
    pytest.mark.pdf,
    pytest.mark.skipif(not os.environ.get("BNLAB_TEST_PDF"), reason="slow: run make test-pdf"),
]


def title(chapter):
    return next(
        line[2:].strip() for line in chapter.read_text().splitlines() if line.startswith("# ")
    )


def words(text):
    return " ".join(text.split())


@pytest.fixture(scope="module")
def book():
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"poppler-utils is missing ({missing}): make pdf-deps")
    start = time.perf_counter()
    proc = subprocess.run(["make", "pdf"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"make pdf: {time.perf_counter() - start:.0f} s")
    text = subprocess.run(["pdftotext", str(PDF), "-"], capture_output=True, text=True).stdout
    return {"pages": text.split("\f")[:-1], "text": words(text)}


def test_page_count(book):
    info = subprocess.run(["pdfinfo", str(PDF)], capture_output=True, text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert pages == len(book["pages"])
    assert pages >= 15 * len(CHAPTERS), f"{pages} pages for {len(CHAPTERS)} chapters"
    assert re.search(r"\bA4\b", info), info


def test_every_chapter_starts_a_page_with_its_title(book):
    assert len(CHAPTERS) >= 9
    tops = [words(page)[:200] for page in book["pages"]]
    for number, chapter in enumerate(CHAPTERS, start=1):
        heading = f"{number}. {title(chapter)}"
        assert heading in book["text"], heading
        assert any(top.startswith(heading) for top in tops), f"{heading} starts no page"


def test_figures_present(book):
    figures = sum(chapter.read_text().count("\n  figure:\n") for chapter in CHAPTERS)
    listing = subprocess.run(["pdfimages", "-list", str(PDF)], capture_output=True, text=True)
    images = [line for line in listing.stdout.splitlines()[2:] if line.split()[2] == "image"]
    assert figures >= 30
    assert len(images) >= figures, f"{len(images)} images for {figures} figures"
    for number in range(1, len(CHAPTERS) + 1):
        assert f"Fig. {number}.1" in book["text"], f"chapter {number}'s first figure caption"


def test_equations_typeset(book):
    labelled = {}
    for number, chapter in enumerate(CHAPTERS, start=1):
        labelled[number] = len(re.findall(r"^```\{math\}\n:label:", chapter.read_text(), re.M))
    for number, count in labelled.items():
        if count:
            assert f"({number}.{count})" in book["text"], f"equation ({number}.{count})"
    # typeset (course.pdf refuses a page MathJax did not finish): symbols, not TeX, in the text;
    # the code listings keep their TeX (docstrings, plot labels), so raw TeX is not looked for
    assert {"∑", "σ", "μ", "γ", "β"} <= set(book["text"])


def test_page_numbers(book):
    total = len(book["pages"])
    assert f"{total} / {total}" in words(book["pages"][-1])
