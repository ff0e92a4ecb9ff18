"""Time the grading pipeline against the floor of starting a kernel, and grade a class in parallel.

Three measurements, each a median of repeats where affordable and every comparison a ratio of
figures measured in the same run (the machine is shared and noisy):

1. **One submission per assignment**: seconds for
   :func:`course.grading.submission.grade_submission` to grade a correct submission in the
   sandbox, and again without it (``--no-sandbox``: the cost of the sandbox as a ratio), against
   floors measured in between (see `LEGEND`): starting a Jupyter kernel and executing an empty
   notebook (the ratio's denominator), starting the sandboxed grading kernel and running one
   empty cell, and the whole pipeline grading a one-cell assignment (``assert True``).
2. **A class end to end**: N synthetic submissions (correct, blank and partial in turn) put in a
   filesystem exchange, then the instructor's commands exactly as the guide gives them:
   ``nbgrader collect``, ``python -m course.grading autograde``, ``nbgrader generate_feedback`` and
   ``release_feedback``, ``nbgrader export``.
3. **Parallel grading**: the same round with ``python -m course.grading autograde --workers 2`` in a
   copy of the course, its speed-up and whether the exported grades are identical.

The synthetic class comes from :mod:`course.classroom`.
"""

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient

from course.classroom import KINDS, make_class, one_owner, write_submission
from course.grading import runner
from course.grading.session import Session
from course.grading.submission import grade_submission
from course.layout import COURSE, REPO_ROOT, CourseDir

ROOT = REPO_ROOT

PARALLEL_SAFETY = (
    "Each submission is graded in a sandbox of its own (bubblewrap: it sees no other submission, "
    "no gradebook, no course files), and only the grader's process writes the gradebook, after "
    "the batch, in the same order as sequential grading. Without the sandbox, parallel grading "
    "is refused."
)


# ------------------------------------------------------------------------------------ floors


def empty_notebook_seconds():
    """Seconds to start the python3 kernel, execute an empty notebook and shut it down."""
    nb = nbformat.v4.new_notebook()
    start = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return time.perf_counter() - start


def sandbox_kernel_seconds():
    """Seconds to start the sandboxed grading kernel, run one empty cell and stop it."""
    start = time.perf_counter()
    with Session() as session:
        session.run("")
    return time.perf_counter() - start


def null_assignment(folder):
    """Source of a one-notebook assignment whose single graded cell is ``assert True``."""
    cell = nbformat.v4.new_code_cell("assert True")
    cell.id = "test_nothing"
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "test_nothing",
        "locked": True,
        "points": 1,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    source = Path(folder) / "null"
    source.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, source / "null.ipynb")
    return source


# ---------------------------------------------------------------------------- per assignment


def _timed_grade(source_dir, submission_dir, sandboxed):
    start = time.perf_counter()
    result = grade_submission(source_dir, submission_dir, "student", sandboxed=sandboxed)
    return time.perf_counter() - start, result


def per_assignment(names, repeats, with_floors=True):
    """Median seconds to grade a correct submission of each assignment, in the sandbox and
    without it, with the floors.

    The floors and the assignments are measured in turn within each repeat, so a change of the
    machine's load shifts them together.
    """
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        jobs = {}
        if with_floors:
            null = null_assignment(tmp / "null_source")
            jobs["(grading floor)"] = (null, write_submission(tmp / "null", null, null, "blank"))
        for name in names:
            source = COURSE.source / name
            sub = write_submission(tmp / name, COURSE.release / name, source, "correct")
            jobs[name] = (source, sub)
        floors = ["(empty notebook)", "(sandbox kernel)"]
        times = {k: [] for k in floors}
        times.update({(k, box): [] for k in jobs for box in (True, False)})
        scores = {}
        for _ in range(repeats):
            times["(empty notebook)"].append(empty_notebook_seconds())
            if with_floors:
                times["(sandbox kernel)"].append(sandbox_kernel_seconds())
            for key, (source, sub) in jobs.items():
                for box in (True, False):
                    seconds, result = _timed_grade(source, sub, box)
                    times[key, box].append(seconds)
                    if box:  # the score shown is the sandboxed one
                        scores[key] = f"{result.total:g}/{result.max_total:g}"
    median = {k: float(np.median(v)) for k, v in times.items() if v}
    floor = median["(empty notebook)"]
    rows = []
    for key in [*floors, *jobs]:
        if key in floors:
            if key not in median:
                continue
            seconds, plain = median[key], None
        else:
            seconds, plain = median[key, True], median[key, False]
        rows.append(
            {
                "assignment": key,
                "score": scores.get(key, "-"),
                "seconds": seconds,
                "unsandboxed": plain if plain is not None else float("nan"),
                "sandbox_cost": seconds / plain if plain else float("nan"),
                "ratio_to_kernel_floor": seconds / floor,
                "runs": len(times[key] if key in floors else times[key, True]),
            }
        )
    return rows


# ------------------------------------------------------------------------------ a whole class


def grading_round(root, exchange, name, workers=1):
    """The instructor's round, command by command; returns (seconds per stage, grades)."""
    ex = f"--Exchange.root={exchange}"
    stages = {}

    def timed(stage, fn):
        start = time.perf_counter()
        fn()
        stages[stage] = time.perf_counter() - start

    def autograde():
        subprocess.run(
            [sys.executable, "-m", "course.grading", "autograde", name, f"--root={root}"]
            + [f"--workers={workers}", "--timeout=900"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )

    csv_path = Path(root) / "grades.csv"
    timed("collect", lambda: runner.run_nbgrader(root, "collect", name, ex, timeout=900))
    timed("autograde", autograde)
    timed("feedback", lambda: runner.run_nbgrader(root, "generate_feedback", name, timeout=900))
    timed("release", lambda: runner.run_nbgrader(root, "release_feedback", name, ex, timeout=900))
    timed("export", lambda: runner.run_nbgrader(root, "export", f"--to={csv_path}", timeout=900))
    stages["total"] = sum(stages.values())
    with open(csv_path) as f:
        grades = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    return stages, grades


def class_rounds(name, n_students, workers=(1, 2)):
    """Grade one synthetic class once per entry of `workers`, each in its own copy of the
    course and exchange; returns a dict with the stage times, the speed-up and the grades."""
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        tmp = Path(tmp)
        root, exchange, kinds = make_class(tmp / "class", name, n_students)
        rounds = {}
        for w in workers:
            copy_root = tmp / f"w{w}"
            shutil.copytree(tmp / "class", copy_root)
            # the config names its own root; rewritten, it needs the synthetic class's rule again
            one_owner(CourseDir(runner.write_config(copy_root / "course")).config)
            stages, grades = grading_round(copy_root / "course", copy_root / "exchange", name, w)
            rounds[w] = {"stages": stages, "grades": grades}
    first = rounds[workers[0]]
    by_kind = {k: sorted({first["grades"][s] for s, kk in kinds.items() if kk == k}) for k in KINDS}
    out = {
        "assignment": name,
        "students": n_students,
        "kinds": {k: sum(v == k for v in kinds.values()) for k in KINDS},
        "scores_by_kind": {k: v for k, v in by_kind.items() if v},
        "rounds": [
            {
                "workers": w,
                **{f"{k}_seconds": v for k, v in r["stages"].items()},
                "autograde_per_submission": r["stages"]["autograde"] / n_students,
                "total_per_submission": r["stages"]["total"] / n_students,
            }
            for w, r in rounds.items()
        ],
    }
    if len(rounds) > 1:
        seq, par = rounds[workers[0]], rounds[workers[-1]]
        out["parallel"] = {
            "workers": workers[-1],
            "autograde_speedup": seq["stages"]["autograde"] / par["stages"]["autograde"],
            "total_speedup": seq["stages"]["total"] / par["stages"]["total"],
            "grades_identical": seq["grades"] == par["grades"],
            "safety": PARALLEL_SAFETY,
        }
    return out


LEGEND = {
    "(empty notebook)": "start the python3 Jupyter kernel, execute an empty notebook, shut down",
    "(sandbox kernel)": "start the sandboxed grading kernel (bubblewrap), run one empty cell, stop",
    "(grading floor)": "grade_submission of a one-cell assignment (assert True)",
}


def run(tiny=False, class_size=12):
    """Every grading figure. Tiny: one assignment, one submission, the kernel floor only."""
    out = {"load_average_before": os.getloadavg()[0], "legend": LEGEND}
    if tiny:
        out["assignments"] = per_assignment(["ps1_moments"], repeats=1, with_floors=False)
    else:
        out["assignments"] = per_assignment(runner.assignments(COURSE.source), repeats=3)
        out["class"] = class_rounds("ps3_bn_forward", class_size, workers=(1, 2))
    out["load_average_after"] = os.getloadavg()[0]
    return out


def print_tables(result, print_table):
    """Print the grading figures with run.py's table printer."""
    print_table(
        result["assignments"],
        ["assignment", "score", "seconds", "unsandboxed", "sandbox_cost",
         "ratio_to_kernel_floor", "runs"],  # fmt: skip
    )
    for row in result["assignments"]:
        if row["assignment"] in result["legend"]:
            print(f"{row['assignment']}: {result['legend'][row['assignment']]}")
    print(
        f"load average (1 min) before/after: {result['load_average_before']:.2f}/"
        f"{result['load_average_after']:.2f} on {os.cpu_count()} cores\n"
    )
    klass = result.get("class")
    if not klass:
        return
    print(
        f"class of {klass['students']} on {klass['assignment']} "
        f"({', '.join(f'{n} {k}' for k, n in klass['kinds'].items())}), "
        f"scores by kind {klass['scores_by_kind']}"
    )
    print_table(klass["rounds"], list(klass["rounds"][0]))
    par = klass.get("parallel")
    if par:
        print(
            f"parallel grading, {par['workers']} workers: autograde speed-up "
            f"{par['autograde_speedup']:.2f}x, end to end {par['total_speedup']:.2f}x, "
            f"exported grades identical to sequential: {par['grades_identical']}"
        )
        print(f"safety: {par['safety']}")
        print()
