"""Time the book: a clean build as `make book` runs it (chapters two at a time), a cached rebuild,
each chapter's seconds in that build, and each chapter alone with its peak memory."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import yaml
from jupyter_cache import get_cache
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


# `make book`: the chapters executed into the execution cache, one per core, then the build.
EXECUTE = [sys.executable, "-m", "course.execute_cache"]
BUILD = [str(JUPYTER_BOOK), "build", ".", "--warningiserror", "--keep-going"]


def build_times(workdir):
    """A clean build of a copy of the book as `make book` runs it, then a rebuild with nothing
    changed; and each chapter's execution seconds in the clean build (two at a time on two cores).

    ``executed_by_sphinx`` counts the notebooks that the Sphinx build executed itself instead of
    reading them from the cache: 0 when the pre-execution did its job. The 1-minute load average
    before and after tells how shared the machine was.
    """
    book = Path(workdir) / "book"
    shutil.copytree(
        ROOT, book, ignore=shutil.ignore_patterns("_build", ".venv", ".git", "*.egg-info")
    )
    times = {"load_average_before": os.getloadavg()[0]}
    for label in ("clean_build", "cached_rebuild"):
        start = time.perf_counter()
        log = ""
        for step in (EXECUTE, BUILD):
            # in the copy: the execution cache path in _config.yml is relative to the cwd
            proc = subprocess.run(step, capture_output=True, text=True, cwd=book)
            log += proc.stdout + proc.stderr
            if proc.returncode != 0:
                raise RuntimeError(f"the book build failed:\n{log[-3000:]}")
        times[f"{label}_seconds"] = time.perf_counter() - start
        times[f"{label}_executed_by_sphinx"] = log.count("Executing notebook using")
    times["load_average_after"] = os.getloadavg()[0]
    cache = get_cache(book / yaml.safe_load((book / "_config.yml").read_text())["execute"]["cache"])
    chapters = [
        {"chapter": Path(r.uri).stem, "seconds_in_build": r.data["execution_seconds"]}
        for r in cache.list_cache_records()
    ]
    return times, sorted(chapters, key=lambda row: row["chapter"])
