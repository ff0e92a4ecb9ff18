"""A synthetic class: student submissions made from the source, waiting in an exchange.

The benchmarks grade such a class to time a round; the tests attack one.
"""

import copy
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from course import layout
from course.grading import runner
from course.layout import CourseDir

KINDS = ("correct", "blank", "partial")


def _solution_cells(nb):
    return [c for c in nb.cells if layout.cell_kind(c) in layout.ANSWERS]


def submission(release_nb, source_nb, kind):
    """A synthetic student notebook: the release with none, all or the first half of its
    solution cells answered from the source (``kind`` is ``blank``, ``correct``, ``partial``)."""
    solved = [c.id for c in _solution_cells(source_nb)]
    keep = {"blank": [], "correct": solved, "partial": solved[: len(solved) // 2]}[kind]
    answers = {c.id: c.source for c in source_nb.cells if c.id in keep}
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        if cell.get("id") in answers:
            cell.source = answers[cell.id]
    return nb


def write_submission(folder, release_dir, source_dir, kind):
    """Write the `kind` submission of every notebook of an assignment into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for src in sorted(Path(source_dir).glob("*.ipynb")):
        release = nbformat.read(Path(release_dir) / src.name, 4)
        nbformat.write(submission(release, nbformat.read(src, 4), kind), folder / src.name)
    return folder


def submit(exchange, student, name, notebooks_dir):
    """What ``nbgrader submit`` leaves in the exchange: notebooks, timestamp and secret."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    folder = layout.inbound(exchange) / f"{student}+{name}+{stamp}+x"
    shutil.copytree(notebooks_dir, folder)
    (folder / "timestamp.txt").write_text(stamp)
    (folder / "submission_secret.txt").write_text(secrets.token_hex(64))


def one_owner(config):
    """Let `config` (a course's nbgrader_config.py) collect a synthetic class: its students have
    no Linux account and one user made every submission, which the course's collect would refuse
    as submissions in another's name."""
    with open(config, "a") as f:
        f.write("\n# a synthetic class (course.classroom): one user made every submission\n")
        f.write("c.ExchangeCollect.check_owner = False\n")


def make_class(workdir, name, n_students, source=layout.COURSE.source):
    """A course directory with assignment `name` generated and `n_students` synthetic
    submissions waiting in a filesystem exchange. Returns (course root, exchange, kinds)."""
    from nbgrader.api import Gradebook

    workdir = Path(workdir)
    root = CourseDir(runner.write_config(workdir / "course"))
    one_owner(root.config)
    shutil.copytree(Path(source) / name, root.source / name)
    runner.run_nbgrader(root.root, "generate_assignment", name, "--force", timeout=900)
    exchange = workdir / "exchange"
    layout.inbound(exchange).mkdir(parents=True)
    kinds = {f"s{i:03d}": KINDS[i % len(KINDS)] for i in range(n_students)}
    drafts = {
        kind: write_submission(
            workdir / "drafts" / kind, root.release / name, root.source / name, kind
        )
        for kind in set(kinds.values())
    }
    with Gradebook(root.gradebook_url) as gb:
        for student in kinds:
            gb.update_or_create_student(student)
    for student, kind in kinds.items():
        submit(exchange, student, name, drafts[kind])
    return root.root, exchange, kinds
