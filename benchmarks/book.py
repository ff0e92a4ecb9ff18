"""Time the book: a clean build, a cached rebuild, and each chapter's execution and peak memory."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
# The kernel's own high-water mark of resident memory. (getrusage's ru_maxrss would not do: on
# Linux it survives fork+exec, so a kernel reports its parent's peak if that was larger.)
PEAK_RSS_CELL = (
    "print(next(line.split()[1] for line in open('/proc/self/status')"
    " if line.startswith('VmHWM:')))"
)


def execute_chapter(path):
    """Execute one chapter in a fresh kernel; return (seconds, peak kernel RSS in MiB)."""
    nb = jupytext.read(path)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_RSS_CELL))
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    peak_kib = int(nb.cells[-1].outputs[0]["text"])
    return seconds, peak_kib / 1024


def chapters(names=None):
    """Execution seconds and peak kernel memory of each chapter (or of those in `names`)."""
    rows = []
    for path in sorted((ROOT / "chapters").glob("*.md")):
        if names is None or path.stem in names:
            seconds, peak_mib = execute_chapter(path)
            rows.append({"chapter": path.stem, "seconds": seconds, "peak_MiB": peak_mib})
    return rows


def build_times(workdir):
    """Seconds for a clean build of a copy of the book, then a rebuild with nothing changed."""
    book = Path(workdir) / "book"
    shutil.copytree(
        ROOT, book, ignore=shutil.ignore_patterns("_build", ".venv", ".git", "*.egg-info")
    )
    times = {}
    for label in ("clean_build_seconds", "cached_rebuild_seconds"):
        start = time.perf_counter()
        proc = subprocess.run(
            [str(JUPYTER_BOOK), "build", str(book), "--warningiserror", "--keep-going"],
            capture_output=True,
            text=True,
            cwd=book,  # the execution cache path in _config.yml is relative to the cwd
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the book build failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        times[label] = time.perf_counter() - start
    return times
