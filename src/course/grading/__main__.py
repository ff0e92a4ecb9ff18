"""Command line: ``python -m course.grading <command>`` (run from the course folder).

generate               regenerate exercises/ from solutions/ (nbgrader generate_assignment)
check                  fail if exercises/ drifted from solutions/ or leaks a solution/hidden test
selfgrade NOTEBOOK     grade a finished notebook with the hidden tests, score per part (its
                       problem set is the one its metadata names; python -m bnlab.selfcheck
                       runs only the visible tests, in any copy of the course)
autograde ASSIGNMENT   instructor: grade every collected submission, each in its own sandbox,
                       after the reference solution scored full marks (--workers N: N at a time)
check-sandbox          say whether the grading sandbox starts on this machine, and how it bounds
scan PATH...           instructor: list code in submissions that tampers with grading

Grading refuses to run when the sandbox (bubblewrap) cannot start. --no-sandbox grades anyway,
giving up what the sandbox holds: the learner's code then runs as you, and can read what you can
read (solutions/, the gradebook, other submissions) and change what you can write. Scores still
come only from the judge.
"""

import argparse
import sys
from pathlib import Path

try:
    import bnlab  # noqa: F401 - the references; the grader must have it before anything runs
except ImportError:
    sys.exit(
        f"grading refused: {sys.executable} cannot import bnlab, the package every hidden test "
        "compares with. Run the grader with the course's environment (make venv, then "
        ".venv/bin/python -m course.grading ...), or install it: pip install -e /path/to/course"
    )

from bnlab import selfcheck  # noqa: E402
from course.grading import autograde, exercises, sandbox, scan, submission  # noqa: E402
from course.grading.text import clean  # noqa: E402
from course.layout import REPO_ROOT, CourseDir  # noqa: E402


def _print_result(result, out=sys.stdout):
    """A submission's report: one line per part and the total (for autograde, the scores the
    gradebook holds), then one line per message; whatever in them came from the kernel is
    escaped (:func:`course.grading.text.clean`), so no line of it can pass for another."""
    if not result.ungraded:
        for part, (got, mx) in result.by_part().items():
            print(f"  {got:5.1f} / {mx:4.1f}  {clean(part, 200)}", file=out)
        print(f"  {result.total:5.1f} / {result.max_total:4.1f}  total", file=out)
    for nb, messages in result.messages.items():
        for gid, message in messages.items():
            if message != "passed":
                print(f"  - {clean(nb, 200)}: {clean(gid, 200)}: {clean(message)}", file=out)
    for incident in result.incidents:
        print(f"  ! {clean(incident)}", file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m course.grading",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate")
    sub.add_parser("check")
    p = sub.add_parser("selfgrade")
    p.add_argument("notebook")
    p.add_argument("--no-sandbox", action="store_true", help=NO_SANDBOX)
    sub.add_parser("check-sandbox")
    p = sub.add_parser("autograde")
    p.add_argument("assignment")
    p.add_argument("--root", default=str(REPO_ROOT))
    p.add_argument("--student", action="append")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per submission")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="grade this many submissions at a time (each in its own sandbox)",
    )
    p.add_argument("--no-sandbox", action="store_true", help=NO_SANDBOX)
    p = sub.add_parser("scan")
    p.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (sandbox.SandboxUnavailable, autograde.GradingEnvironmentError) as exc:
        print(f"grading refused: {exc}", file=sys.stderr)
        if isinstance(exc, sandbox.SandboxUnavailable):
            print("(--no-sandbox grades without it; see --help for what that gives up)",
                  file=sys.stderr)  # fmt: skip
        return 2


NO_SANDBOX = (
    "grade without the OS sandbox: the learner's code runs as you and can read and change "
    "whatever you can (solutions/, the gradebook, other submissions); scores still come from "
    "the judge"
)


def _run(args):
    if args.command == "generate":
        print(f"generated {exercises.generate()}")
    elif args.command == "check":
        problems = exercises.check()
        for p in problems:
            print(p)
        print("exercises/ is up to date and leaks nothing" if not problems else "")
        return 1 if problems else 0
    elif args.command == "selfgrade":
        try:
            result = submission.selfgrade(args.notebook, sandboxed=not args.no_sandbox)
        except selfcheck.NotChecked as exc:
            print(f"not graded: {exc}", file=sys.stderr)
            return 2
        print(f"{Path(args.notebook).name}:")
        _print_result(result)
    elif args.command == "check-sandbox":
        bound = sandbox.probe()
        how = {"cgroup": "a cgroup bounds memory and processes of the kernel and its children",
               "rlimit": "memory is bounded per process (no writable cgroup: grade as root for "
               "a bound on the kernel and its children together)"}[bound]  # fmt: skip
        cpu = {"cgroup": "each sandbox has a CPU quota of its own (--workers N is allowed)",
               "session": "each sandbox is one scheduling group, its processes cannot leave it "
               "(--workers N is allowed)",
               None: "no CPU share per sandbox (--workers 1 only)"}  # fmt: skip
        cpu = cpu[sandbox.cpu_bounded()]
        print(f"the sandbox starts: {how}; {cpu}")
    elif args.command == "autograde":
        results = autograde.autograde(
            args.assignment,
            Path(args.root),
            students=args.student,
            timeout=args.timeout,
            workers=args.workers,
            sandboxed=not args.no_sandbox,
        )
        recorded = autograde.recorded_scores(
            Path(args.root), args.assignment, [r.student for r in results if not r.ungraded]
        )
        for result in results:
            # the scores printed are the gradebook's, read back; nothing else decides them
            result.scores = recorded.get(result.student, {})
            print(f"{clean(result.student, 200)}:")
            _print_result(result)
            flags = scan_dir(CourseDir(args.root).submitted(result.student, args.assignment))
            for f in flags:
                print(f"  ? {f}")
    elif args.command == "scan":
        found = False
        for path in args.paths:
            for f in scan_dir(Path(path)):
                found = True
                print(f)
        return 1 if found else 0
    return 0


def scan_dir(path):
    paths = [path] if path.is_file() else sorted(path.rglob("*.ipynb"))
    return [f"{p}: cell {i}: {msg}" for p in paths for i, msg in scan.scan_notebook(p)]


if __name__ == "__main__":
    sys.exit(main())
