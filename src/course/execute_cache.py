"""Execute the book's notebooks into myst-nb's execution cache, one per core at a time.

With ``execute_notebooks: cache`` myst-nb executes, one after the other during the Sphinx
build, every notebook whose code has no entry in the cache. ``make book`` runs this first: it
executes the notebooks (by default the chapters) whose entry is missing or stale into the
*same* cache, in a pool of one process per core, so that the build then only reads their
outputs ("Using cached notebook" in its log).

A notebook runs exactly as myst-nb would run it: through jupyter-cache's own worker, in the
kernel its metadata names, with its own folder as cwd (``run_in_temp: false``), with the
``timeout`` and ``allow_errors`` of ``_config.yml``, and with this process's environment
(``BNLAB_SEED``, ``BNLAB_FULL``, ...; as in myst-nb, the cache is keyed by the code alone, not
the environment). A notebook that fails is not cached: its traceback is printed and the exit
status is 1, so ``make book`` fails before the Sphinx build (which would only execute it again).
Stderr output is cached like any output, and the build's ``stderr_output: warn`` fails on it as
before. The build never depends on this step: it still executes whatever is not in the cache.

    python -m course.execute_cache [NOTEBOOK ...]   # from the book root, as `jupyter-book build .`
"""

import argparse
import multiprocessing
import os
import sys
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.executors.basic import (
    REPORT_LEVEL,
    ExecutionWorkerLocalMProc,
    ExecutionWorkerTempMProc,
    ProcessData,
)

from course.notebook_forms import chapter_sources

# myst-nb's reader of MyST Markdown notebooks, as myst-nb records it in the cache's project.
MYST_READER = {"type": "plugin", "name": "myst_nb_md"}


def execute_config(config="_config.yml"):
    """The ``execute:`` section of the book's configuration, with myst-nb's defaults."""
    execute = yaml.safe_load(Path(config).read_text()).get("execute") or {}
    defaults = {"execute_notebooks": "auto", "cache": "", "timeout": 30, "allow_errors": False}
    return {**defaults, "run_in_temp": False, **execute}


def execute(paths, jobs, config="_config.yml"):
    """Execute the notebooks of `paths` that the cache lacks into it, `jobs` at a time.

    Longest first: by the time a former version took when it was cached, else by file size.
    Returns ``{uri: seconds}`` of the notebooks executed and cached, and the URIs of those that
    failed. jupyter-cache's workers log each start and each failure (with the cell's traceback).
    """
    cfg = execute_config(config)
    if cfg["execute_notebooks"] != "cache" or not cfg["cache"]:
        return {}, []  # the build reads no cache, or one whose path depends on the build's
    cache = get_cache(cfg["cache"])  # a relative path is relative to the cwd, as in the build
    for path in paths:
        reader = {"read_data": MYST_READER} if Path(path).suffix == ".md" else {}
        cache.add_nb_to_project(str(path), **reader)
    took = {r.uri: r.data.get("execution_seconds", 0) for r in cache.list_cache_records()}
    stale = cache.list_unexecuted(filter_uris=[str(Path(p).absolute()) for p in paths])
    stale.sort(key=lambda r: (r.uri in took, took.get(r.uri, os.path.getsize(r.uri))))
    worker = ExecutionWorkerTempMProc() if cfg["run_in_temp"] else ExecutionWorkerLocalMProc()
    work = [ProcessData(r.pk, r.uri, cache, cfg["timeout"], cfg["allow_errors"]) for r in stale]
    jobs = max(1, min(jobs, len(work)))
    print(f"[execute_cache] {len(work)} of {len(paths)} notebook(s) to execute, {jobs} at a time")
    done, failed = {}, []
    if not work:
        return done, failed
    multiprocessing.log_to_stderr(REPORT_LEVEL)
    with multiprocessing.Pool(jobs) as pool:
        for status, uri in pool.imap_unordered(worker, reversed(work), chunksize=1):
            if status == 0:
                done[uri] = cache.get_cached_project_nb(uri).data["execution_seconds"]
                print(f"[execute_cache] {os.path.relpath(uri)}: {done[uri]:.2f} s", flush=True)
            else:
                failed.append(uri)
    return done, failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: the chapters")
    parser.add_argument(
        "--jobs", type=int, default=len(os.sched_getaffinity(0)), help="default: the cores"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or chapter_sources(Path.cwd())
    _, failed = execute(paths, args.jobs)
    if failed:
        print("[execute_cache] failed (not cached):", *map(os.path.relpath, failed), sep="\n  ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
