"""One submission graded in a process of its own, with a memory and time bound of its own.

The judge works on what a student's kernel returns: it builds sympy expressions and simplifies
them, runs numpy on returned arrays, formats messages. A value can make that work huge (an answer
of ``(x + mu + v + epsilon)**10000`` makes ``sympy.simplify`` grow by hundreds of MB a second), so
:func:`grade` runs :func:`course.grading.submission.grade_submission` in a child process
(``python -m course.grading.worker``) whose address space is bounded (``RLIMIT_AS``,
:data:`MEMORY`, ``BNLAB_JUDGE_MEMORY``) and whose main thread runs every test, so that the
judge's time limit per test (``BNLAB_JUDGE_TIMEOUT``) holds whatever ``--workers`` is:

- a test that exceeds either bound in the grader scores 0 and says so, and grading goes on;
- if the worker dies anyway (a crash in a C library, the submission's whole time budget used
  up), only that submission is lost: it is reported NOT GRADED and nothing is recorded for it.

The request and the result cross as JSON (paths and plain scores, never a pickle). The kernels
the worker starts are bounded by the sandbox, not by this bound
(:func:`course.grading.sandbox.preexec` lifts it when a cgroup bounds them).
"""

import json
import os
import resource
import signal
import subprocess
import sys

from course.grading.scores import Result
from course.grading.text import clean

#: bytes of address space of a grading worker (the grader's side of one submission)
MEMORY = int(os.environ.get("BNLAB_JUDGE_MEMORY", str(2 * 2**30)))
#: seconds a worker may outlive its submission's time budget (starting, writing feedback)
GRACE = 300


def grade(source_dir, submission_dir, student, *, sandboxed=True, timeout=1800, keep=None,
          memory=None):  # fmt: skip
    """Grade one submission in a bounded worker process; a :class:`Result` (``ungraded`` if
    the worker did not finish)."""
    request = {
        "source_dir": str(source_dir),
        "submission_dir": str(submission_dir),
        "student": student,
        "sandboxed": sandboxed,
        "timeout": timeout,
        "keep": None if keep is None else str(keep),
    }
    memory = MEMORY if memory is None else memory
    # one arena and one BLAS thread: threads would otherwise reserve address space
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MALLOC_ARENA_MAX="2")  # fmt: skip

    def bound():
        # the soft limit only: the sandbox lifts it for the kernels it bounds by a cgroup
        resource.setrlimit(resource.RLIMIT_AS, (memory, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    proc = subprocess.Popen(
        [sys.executable, "-m", "course.grading.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
        preexec_fn=bound,
    )
    try:
        out, err = proc.communicate(json.dumps(request).encode(), timeout=timeout + GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return _lost(student, source_dir, f"it ran over {timeout + GRACE} s")
    try:
        data = json.loads(out)
        return Result(
            student=data["student"],
            assignment=data["assignment"],
            scores={nb: {g: tuple(v) for g, v in c.items()} for nb, c in data["scores"].items()},
            parts=data["parts"],
            messages=data["messages"],
            incidents=data["incidents"],
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        code = proc.returncode
        why = (
            f"it was killed by signal {signal.Signals(-code).name}"
            if code < 0
            else f"it exited with status {code}"
        )
        if b"MemoryError" in err:
            why = f"it ran out of memory ({memory // 2**20} MB, BNLAB_JUDGE_MEMORY)"
        tail = err.decode(errors="replace").strip().splitlines()[-1:]
        return _lost(student, source_dir, why + (f": {clean(tail[0], 300)}" if tail else ""))


def _lost(student, source_dir, why):
    from pathlib import Path

    result = Result(student, Path(source_dir).name, ungraded=True)
    result.incidents.append(
        f"NOT GRADED: the grader's worker for this submission failed ({why}); nothing was "
        "recorded for it: look at it, then grade it again or by hand"
    )
    return result


def main():
    from course.grading.submission import grade_submission

    request = json.loads(sys.stdin.buffer.read())
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed on the way goes to the log, not into the result
    result = grade_submission(
        request["source_dir"],
        request["submission_dir"],
        request["student"],
        sandboxed=request["sandboxed"],
        timeout=request["timeout"],
        keep=request["keep"],
    )
    json.dump(
        {
            "student": result.student,
            "assignment": result.assignment,
            "scores": result.scores,
            "parts": result.parts,
            "messages": result.messages,
            "incidents": result.incidents,
        },
        channel,
    )
    channel.close()


if __name__ == "__main__":
    main()
