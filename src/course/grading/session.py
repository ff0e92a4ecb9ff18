"""The grader's end of one submission's kernel: start it in the sandbox, ask, time out, restart.

A :class:`Session` starts ``python -I -m course.grading.kernel`` (in the sandbox unless told
otherwise) and talks to it through :mod:`course.grading.wire`. Every request has a time limit.
If the kernel does not answer in time, dies, or runs out of memory, the session kills it (the
whole sandbox: its PID namespace ends with it) and the next request starts a fresh kernel that
first replays the cells that ran before, except those that killed a kernel. So an endless loop,
a cell that swallows interrupts or a crash costs only what depended on that cell.
"""

import builtins
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from course.grading import sandbox, wire
from course.grading.text import clean

#: seconds a cell or a call may run, unless BNLAB_CELL_TIMEOUT says otherwise
CELL_TIMEOUT = 60.0


def cell_timeout():
    """Seconds a cell or a call may run: BNLAB_CELL_TIMEOUT, read when a kernel starts."""
    return float(os.environ.get("BNLAB_CELL_TIMEOUT", CELL_TIMEOUT))


START_TIMEOUT = 120.0


_SIGNALS = {s.value: s.name for s in signal.Signals}


class KernelLost(BaseException):
    """The kernel did not answer (timeout, crash, memory). A BaseException, so that no
    ``except Exception`` in a test can mistake it for an answer."""


class StudentRaised(Exception):
    """Base of the exceptions the submission's code raised (re-created by name on this side).
    ``builtin_name`` is the name of the builtin exception it counts as (``ValueError`` for a
    learner's ``ProbabilityError(ValueError)``): a name of this side, not the kernel's."""

    builtin_name = "Exception"


_BUILTIN_EXCEPTIONS = {
    name: obj
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, Exception)
}


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,80}")


def _name(name):
    """An exception's name as the kernel gave it, if it is one (else "Exception")."""
    return name if isinstance(name, str) and _NAME.fullmatch(name) else "Exception"


def raised(name, message, bases=()):
    """An exception of the submission's type `name`, carrying its message. It subclasses the
    first builtin exception among `name` and its `bases` (the names of its class's MRO), so a
    learner's ``class ProbabilityError(ValueError)`` is a ``ValueError`` here too."""
    names = [_name(name), *(_name(b) for b in (bases if isinstance(bases, list) else []))]
    base = next((_BUILTIN_EXCEPTIONS[n] for n in names if n in _BUILTIN_EXCEPTIONS), Exception)
    try:
        exc = type(names[0], (StudentRaised, base), {})(clean(message))
    except TypeError:  # a builtin whose constructor wants more (UnicodeDecodeError, ...)
        exc = type(names[0], (StudentRaised,), {})(clean(message))
    exc.builtin_name = base.__name__
    return exc


class Session:
    """One submission's kernel. ``sandboxed=False`` runs it as an ordinary process (only with
    the instructor's explicit consent: see :mod:`course.grading.autograde`)."""

    def __init__(self, *, sandboxed=True, timeout=None, limits=None):
        self.sandboxed = sandboxed
        self.timeout = timeout if timeout is not None else cell_timeout()
        self.limits = limits or sandbox.Limits()
        self.proc = self.cgroup = self.scratch = None
        self.generation = 0
        self.history = []  # sources of the cells that ran, in order, for a replay
        self.incidents = []
        self.stderr_tail = b""
        self.deadline = None
        #: whether the running kernel has received inputs of a hidden test: from then on,
        #: nothing it says may reach the feedback (a fresh kernel replays only cell sources)
        self.tainted = False
        #: set by the judge while a test runs: ``(filename, visible line numbers)``
        self.watch = None

    # -------------------------------------------------------------- process

    def _start(self):
        argv = [sandbox.python(), "-I", "-m", "course.grading.kernel"]
        fds = []
        if self.sandboxed:
            cmd, fds = sandbox.command(argv, self.limits)
            self.cgroup = sandbox.cgroup_or_none(self.limits)
        else:
            # without the sandbox: a private folder for the kernel's cwd and HOME, removed at kill
            cmd, self.cgroup = argv, None
            self.scratch = tempfile.mkdtemp(prefix="bn-kernel-")
        env = None if self.sandboxed else _plain_env(self.scratch)
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=fds,
                env=env,
                cwd=None if self.sandboxed else self.scratch,
                start_new_session=True,
                preexec_fn=sandbox.preexec(self.limits, self.cgroup),
            )
        finally:
            for fd in fds:
                os.close(fd)
        self.generation += 1
        self.tainted = False
        self.stderr_tail = b""
        self.drainer = threading.Thread(target=self._drain, args=(self.proc,), daemon=True)
        self.drainer.start()
        try:
            hello = self._receive(START_TIMEOUT, "starting the kernel")
        except KernelLost as exc:
            last = self.stderr_tail.decode(errors="replace").strip().splitlines()[-1:]
            raise KernelLost(f"{exc}: {clean(last[0], 300)}" if last else str(exc)) from None
        if not hello or not hello.get("ready"):
            raise KernelLost("the kernel did not start")
        for source in list(self.history):
            self._request({"op": "run", "source": source}, "replaying earlier cells")

    def _drain(self, proc):
        """Keep the last 64 KiB of the kernel's standard error (the rest is discarded)."""
        while True:
            chunk = proc.stderr.read(65536)
            if not chunk:
                return
            self.stderr_tail = (self.stderr_tail + chunk)[-65536:]

    def _receive(self, timeout, what):
        box = {}

        def read():
            try:
                box["msg"] = wire.receive(self.proc.stdout)
            except Exception as exc:  # noqa: BLE001 - any malformed answer (a JSON bomb too)
                box["error"] = exc

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            self.kill()
            raise KernelLost(f"no answer within {timeout:.0f} s while {what}")
        if "error" in box or box.get("msg") is None:
            reason = self._why_dead()
            self.kill()
            raise KernelLost(f"the kernel {reason} while {what}")
        return box["msg"]

    def _why_dead(self):
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "sent a malformed answer"
        if self.cgroup is not None and self.cgroup.out_of_memory():
            return "ran out of memory"
        code = self.proc.returncode
        if code is not None and code < 0:
            return f"was killed by signal {signal.Signals(-code).name}"
        if self.sandboxed and code is not None and code > 128 and code - 128 in _SIGNALS:
            # bubblewrap passes on its child's death by a signal as 128 + the signal
            return f"was killed by signal {_SIGNALS[code - 128]}"
        return f"exited with status {code}"

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.proc is not None:
            self.drainer.join(timeout=5)
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
        self.proc = None
        if self.cgroup is not None:
            self.cgroup.close()
            self.cgroup = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    close = kill

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    # -------------------------------------------------------------- requests

    def _request(self, msg, what, taints=False):
        if self.proc is None:
            self._start()
        if taints:
            self.tainted = True  # (after a restart: the fresh kernel is the one that learns)
        timeout = self.timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise KernelLost("the submission used up its time")
            timeout = min(timeout, left)
        try:
            wire.send(self.proc.stdin, msg)
        except (BrokenPipeError, OSError):
            reason = self._why_dead()
            self.kill()
            raise KernelLost(f"the kernel {reason} while {what}") from None
        answer = self._receive(timeout, what)
        if not isinstance(answer, dict):
            self.kill()
            raise KernelLost(f"the kernel sent a malformed answer while {what}")
        return answer

    def run(self, source, label="a cell"):
        """Run one cell; returns ``(outputs, error)`` (error: ``{ename, evalue}`` or None).
        A cell that loses the kernel is reported as an error and left out of later replays."""
        try:
            answer = self._request({"op": "run", "source": source}, f"running {label}")
        except KernelLost as exc:
            self.incidents.append(f"{label}: {exc}")
            return [], {"ename": "KernelLost", "evalue": str(exc)}
        self.history.append(source)
        outputs, error = answer.get("outputs"), answer.get("error")
        if error is not None:
            error = error if isinstance(error, dict) else {"evalue": error}
            error = {"ename": _name(error.get("ename")), "evalue": clean(error.get("evalue", ""))}
        return (outputs if isinstance(outputs, list) else []), error

    def get(self, name):
        """The submission's global `name`: ``(True, value)`` or ``(False, None)``."""
        answer = self._request({"op": "get", "name": name}, f"reading {name!r}")
        if answer.get("missing"):
            return False, None
        return True, self._value(answer)

    def _from_hidden_line(self):
        """Whether this request comes from a hidden line of the test that runs (the judge's
        :attr:`watch`): then it carries that test's inputs."""
        if self.watch is None:
            return False
        filename, visible = self.watch
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename == filename:
                return frame.f_lineno not in visible
            frame = frame.f_back
        return True  # not from the test's own lines: assume the worst

    def call(self, target, args, kwargs):
        hidden = self._from_hidden_line()
        msg = {
            "op": "call",
            "target": target,
            "args": wire.encode(list(args)),
            "kwargs": wire.encode(dict(kwargs)),
        }
        name = target if isinstance(target, str) else "a function of the submission"
        return self._value(self._request(msg, f"calling {name}", taints=hidden))

    def getattr(self, handle, name):
        hidden = self._from_hidden_line()
        msg = {"op": "getattr", "handle": handle, "name": name}
        return self._value(self._request(msg, name, taints=hidden))

    def _value(self, answer):
        if "raised" in answer:
            raise raised(answer["raised"], answer.get("message", ""), answer.get("bases", []))
        generation = self.generation
        return wire.decode(answer.get("value"), lambda h, t: self._remote(h, t, generation))

    def _remote(self, handle, type_name, generation):
        session = self

        class _Stale:
            def call(self, h, args, kwargs):
                if session.generation != generation:
                    raise KernelLost("the kernel restarted: this object is gone")
                return session.call(h, args, kwargs)

            def getattr(self, h, name):
                if session.generation != generation:
                    raise KernelLost("the kernel restarted: this object is gone")
                return session.getattr(h, name)

        return wire.Remote(_Stale(), handle, type_name)


def _plain_env(home):
    """The environment of an unsandboxed kernel: nothing of the grader's but the basics."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", HOME=home)
    return env
