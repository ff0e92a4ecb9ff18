"""How close is each verdict of the book to failing? ``make verdicts``: every chapter, many seeds.

Every chapter runs (its notebook form, in a fresh kernel) under each of several seed offsets
(``BNLAB_SEED``, `bnlab.seeds`), with ``BNLAB_VERDICTS`` naming a file: every verdict of
`bnlab.experiments.Verdicts` appends its margin there instead of raising, so one run measures
every margin of a chapter. The report lists, for every verdict, its margin at each offset (in
standard errors, or as a distance to its threshold for a seed-independent quantity), the worst
one and the offset that gave it; verdicts whose worst margin misses their bound come first.

Each run is kept in ``_build/verdicts/<chapter>-<offset>.json`` with a hash of the notebook;
a later sweep reruns only what changed (``--force`` reruns everything).

    python -m course.verdicts [--offsets 10] [--first 0] [--chapters 03 05] [--jobs 2]
        [--markdown benchmarks/results/verdicts.md] [--json benchmarks/results/verdicts.json]

A run that fails with an error (an exact identity broke, or the code crashed) is listed with
its last error line. Exit status 1 if any verdict or run failed.
"""

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from course.execute import VERDICT_CHAPTERS, execute_notebook, verdict_notebooks
from course.layout import REPO_ROOT as ROOT

RUNS = Path("_build") / "verdicts"
RETRY = {"DeadKernelError", "CellTimeoutError", "TimeoutError", "RuntimeError"}


def _digest(path):
    """A hash of the notebook's code (prose edits do not make a run stale)."""
    cells = json.loads(Path(path).read_text())["cells"]
    code = "\n\0".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def run_one(notebook, offset, store):
    """Execute `notebook` under `offset`; return and store its run (margins, error, seconds)."""
    notebook = Path(notebook)
    digest = _digest(notebook)  # of what runs, even if the file changes meanwhile
    kept = store / f"{notebook.stem}-{offset}.json"
    if kept.exists():  # another sweep may have run it meanwhile
        run = json.loads(kept.read_text())
        if run["digest"] == digest:
            return run
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "verdicts.jsonl"
        record.touch()
        start, error, problems = time.perf_counter(), None, []
        for attempt in (1, 2):  # a kernel that died or stopped answering gets one more try
            record.write_text("")
            try:
                problems = execute_notebook(notebook, offset, record=record)
                error = None
            except Exception as exc:  # noqa: BLE001 - the run is reported, not raised
                lines = [x for x in str(exc).strip().splitlines() if x.strip()]
                error = f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:500]
                if attempt == 1 and type(exc).__name__ in RETRY:
                    continue
            break
        records = [json.loads(x) for x in record.read_text().splitlines() if x.strip()]
    run = {
        "chapter": notebook.stem,
        "offset": offset,
        "digest": digest,
        "seconds": round(time.perf_counter() - start, 1),
        "error": error,
        "stderr": [p for p in problems if p.startswith("stderr")][:3],
        "verdicts": records,
    }
    store.mkdir(parents=True, exist_ok=True)
    (store / f"{notebook.stem}-{offset}.json").write_text(json.dumps(run, indent=1) + "\n")
    return run


def slack(v):
    """How far a verdict's margin is on the passing side of its bound (negative: fails)."""
    if v["margin"] is None or (isinstance(v["margin"], float) and math.isnan(v["margin"])):
        return math.inf if v["ok"] else -math.inf  # a bare true/false claim
    return v["margin"] - v["bound"] if v["sense"] in (">", ">=") else v["bound"] - v["margin"]


def table(runs, offsets):
    """One row per (chapter, claim): margins per offset, the worst, its offset; failing first."""
    rows = {}
    for run in runs:
        seen = {}
        for v in run["verdicts"]:
            n = seen[v["claim"]] = seen.get(v["claim"], 0) + 1
            claim = v["claim"] if n == 1 else f"{v['claim']} ({n})"
            row = rows.setdefault(
                (run["chapter"], claim),
                {
                    "chapter": run["chapter"],
                    "claim": claim,
                    "bound": v["bound"],
                    "sense": v["sense"],
                    "unit": v["unit"],
                    "margins": {},
                    "ok": {},
                },
            )
            row["margins"][run["offset"]] = v["margin"]
            row["ok"][run["offset"]] = v["ok"]
    out = []
    for row in rows.values():
        per = {
            o: slack({"margin": row["margins"][o], "ok": row["ok"][o], **row})
            for o in row["margins"]
        }
        worst = min(per, key=lambda o: (per[o], o))
        missing = [o for o in offsets if o not in row["margins"]]
        row.update(
            worst_offset=worst,
            worst_margin=row["margins"][worst],
            worst_slack=per[worst],
            failed=[o for o in per if not row["ok"][o]],
            missing=missing,
        )
        out.append(row)
    order = {c: i for i, c in enumerate(sorted(VERDICT_CHAPTERS))}
    out.sort(
        key=lambda r: (
            not r["failed"],
            r["unit"] != "SE",
            r["worst_slack"],
            order.get(r["chapter"], 99),
            r["claim"],
        )
    )
    return out


def _drop_removed_claims(runs, earlier):
    """Leave out of runs of an earlier code version the claims no current run makes any more."""
    current = {}
    for r in runs:
        if f"{r['chapter']}-{r['offset']}" not in earlier:
            current.setdefault(r["chapter"], set()).update(v["claim"] for v in r["verdicts"])
    gone = set()
    for r in runs:
        if f"{r['chapter']}-{r['offset']}" in earlier and r["chapter"] in current:
            keep = [v for v in r["verdicts"] if v["claim"] in current[r["chapter"]]]
            gone |= {f"{r['chapter']}: {v['claim']}" for v in r["verdicts"] if v not in keep}
            r["verdicts"] = keep
    return gone


def _num(x):
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.2e}"


def markdown(rows, runs, offsets, not_run=(), earlier=(), notes=()):
    """The report: failing runs, then every verdict's margins, worst first."""
    lines = [
        "# Verdict margins under seed offsets " + ", ".join(map(str, offsets)),
        "",
        "Made by `make verdicts` (`course.verdicts`). Margin: in standard errors (unit SE) or as a",
        "distance to the threshold (unit abs); a verdict passes when `margin sense bound` holds.",
        "Slack: how far the worst margin is on the passing side (negative: failed); a bare",
        "true/false claim has no margin (bound ok).",
        "A verdict missing at some offsets did not run there (see the failed runs).",
        "",
    ]
    broken = [r for r in runs if r["error"] or r["stderr"]]
    lines += [
        f"Runs: {len(runs)}, failed with an error: {sum(bool(r['error']) for r in runs)}, "
        f"verdicts failed: {sum(bool(r['failed']) for r in rows)} of {len(rows)}.",
        "",
    ]
    for r in broken:
        lines.append(f"- run {r['chapter']} at offset {r['offset']}: {r['error'] or r['stderr']}")
    if not_run:
        lines.append(f"- not run (or run on an older notebook): {', '.join(not_run)}")
    if earlier:
        lines.append(f"- run on an earlier version of the notebook's code: {', '.join(earlier)}")
    lines += [f"- {note}" for note in notes]
    if broken or not_run or earlier or notes:
        lines.append("")
    secs = {}
    for r in runs:
        secs.setdefault(r["chapter"], []).append(r["seconds"])
    lines += ["| chapter | runs | mean seconds | max seconds |", "|---|---|---|---|"]
    lines += [
        f"| {c} | {len(s)} | {sum(s) / len(s):.0f} | {max(s):.0f} |"
        for c, s in sorted(secs.items())
    ]
    lines += [
        "",
        "| chapter | verdict | sense bound | unit | worst margin | at offset | slack | "
        + " | ".join(f"o{o}" for o in offsets)
        + " |",
        "|---" * (7 + len(offsets)) + "|",
    ]
    for r in rows:
        status = "**FAIL** " if r["failed"] else ""
        cells = [_num(r["margins"].get(o)) if o in r["margins"] else "" for o in offsets]
        bound = "ok" if r["bound"] is None else f"{r['sense']} {_num(r['bound'])}"
        lines.append(
            f"| {r['chapter'][:2]} | {status}{r['claim'].replace('|', '/')} | {bound} | "
            f"{r['unit'] or '-'} | {_num(r['worst_margin'])} | {r['worst_offset']} | "
            f"{_num(r['worst_slack'])} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offsets", type=int, default=10, help="how many offsets (default 10)")
    parser.add_argument("--first", type=int, default=0, help="the first offset (default 0)")
    parser.add_argument("--only", type=int, nargs="*", help="these offsets instead")
    parser.add_argument(
        "--chapters",
        nargs="*",
        help="run these (prefixes, e.g. 03 05), in this order (default all)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="chapters run in parallel")
    parser.add_argument("--force", action="store_true", help="rerun runs that are stored")
    parser.add_argument("--markdown", type=Path, help="write the report here")
    parser.add_argument("--json", type=Path, help="write the rows and runs here")
    parser.add_argument(
        "--stored",
        action="store_true",
        help="run nothing: report the stored runs, those of an earlier version of a notebook's "
        "code marked as such",
    )
    parser.add_argument("--note", action="append", default=[], help="a line for the report")
    args = parser.parse_args(argv)
    offsets = args.only or list(range(args.first, args.first + args.offsets))
    if args.offsets < 1 or args.jobs < 1 or min(offsets) < 0:
        parser.error("--offsets and --jobs must be >= 1 and offsets >= 0")
    every = verdict_notebooks(ROOT)
    chosen = [
        p for p in every if not args.chapters or any(p.stem.startswith(c) for c in args.chapters)
    ]
    if args.chapters:  # in the order given
        chosen.sort(key=lambda p: [p.stem.startswith(c) for c in args.chapters].index(True))
    if not chosen:
        parser.error(f"no chapter matches {args.chapters}; chapters: {VERDICT_CHAPTERS}")
    store = ROOT / RUNS
    runs, todo, not_run, earlier = [], [], [], []
    for nb in sorted(every, key=lambda p: chosen.index(p) if p in chosen else -1):
        for o in offsets:
            kept = store / f"{nb.stem}-{o}.json"
            run = json.loads(kept.read_text()) if kept.exists() else None
            current = run is not None and run["digest"] == _digest(nb)
            if nb in chosen and (args.force or not current) and not args.stored:
                todo.append((nb, o))
            elif current or (args.stored and run is not None):
                runs.append(run)  # the report covers every chapter's current runs
                if not current:
                    earlier.append(f"{nb.stem}-{o}")
            else:
                not_run.append(f"{nb.stem}-{o}")
    print(f"{len(todo)} runs to do, {len(runs)} stored; {args.jobs} at a time", flush=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_one, nb, o, store) for nb, o in todo]
        for f in futures:
            run = f.result()
            runs.append(run)
            bad = sum(not v["ok"] for v in run["verdicts"])
            print(
                f"{run['chapter']} offset {run['offset']}: {len(run['verdicts'])} verdicts, "
                f"{bad} failed, {run['seconds']:.0f} s"
                + (f", {run['error']}" if run["error"] else ""),
                flush=True,
            )
    gone = _drop_removed_claims(runs, earlier)
    notes = args.note + [f"no longer in the chapter (left out): {c}" for c in sorted(gone)]
    rows = table(runs, offsets)
    report = markdown(rows, runs, offsets, not_run, earlier, notes)
    print(report)
    if args.markdown:
        args.markdown.write_text(report)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "offsets": offsets,
                    "rows": rows,
                    "runs": [
                        {k: r[k] for k in ("chapter", "offset", "seconds", "error")} for r in runs
                    ],
                },
                indent=1,
            )
            + "\n"
        )
    return int(any(r["failed"] for r in rows) or any(r["error"] for r in runs))


if __name__ == "__main__":
    sys.exit(main())
