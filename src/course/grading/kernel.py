"""The submission's side of grading: runs cells and calls functions when the grader asks.

Started as ``python -I -m course.grading.kernel`` inside the sandbox
(:mod:`course.grading.sandbox`). It reads requests from standard input and answers on standard
output, in the framing of :mod:`course.grading.wire`; everything the submission prints goes to the
cell's captured output or to standard error, never into the channel. It holds nothing the
submission may not see: no hidden test, no reference, no tolerance ever reaches this process, only
cell sources of the submission's own notebook and the inputs of each test case.

Nothing here is trusted. Whatever this process answers is taken as *the submission's output*
and judged by the grader, so code that rewrites this module can only change its own answers.

Requests (``op``):

- ``run``: execute one cell with IPython (magics work); answer its outputs and error, if any;
- ``get``: the value of a global name (plain data, or a handle to call);
- ``call``: call a global name or a handle with arguments; answer the result or the exception;
- ``getattr``: an attribute of a handle.
"""

import contextlib
import io
import os
import sys
import traceback

from course.grading import wire

_MAX_TEXT = 20_000


def _shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="NoColor")
    shell.display_pub.publish = _publish(shell)
    # as in a Jupyter kernel: `%matplotlib inline` (or any backend) works, figures are captured
    # after each cell, and an expression's value is a result, not a printed "Out[n]:"
    shell.enable_gui = lambda gui=None: None
    shell.displayhook.write_output_prompt = lambda: None
    shell.displayhook.write_format_data = lambda *args, **kwargs: None
    return shell


_DISPLAYED = []


def _publish(shell):
    def publish(data, metadata=None, **kwargs):
        _DISPLAYED.append({"output_type": "display_data", "data": _keep(data), "metadata": {}})

    return publish


def _keep(data):
    """The parts of a display bundle worth keeping in feedback (text and PNG, bounded)."""
    out = {}
    for mime in ("text/plain", "image/png"):
        if mime in data and isinstance(data[mime], str):
            out[mime] = data[mime][: 2_000_000 if mime == "image/png" else _MAX_TEXT]
    return out


class Kernel:
    def __init__(self):
        self.shell = _shell()
        self.handles = {}

    @property
    def ns(self):
        return self.shell.user_ns

    def handle(self, value):
        key = len(self.handles) + 1
        self.handles[key] = value
        return key

    def value(self, handle, type_name=None):
        return self.handles[handle]

    def run(self, source):
        del _DISPLAYED[:]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result = self.shell.run_cell(source, store_history=True, silent=False)
            with contextlib.suppress(Exception):
                import matplotlib.pyplot as plt

                if plt.get_fignums():
                    _show_figures(plt)
        outputs = []
        for name, buf in (("stdout", out), ("stderr", err)):
            if buf.getvalue():
                outputs.append(
                    {"output_type": "stream", "name": name, "text": buf.getvalue()[-_MAX_TEXT:]}
                )
        outputs.extend(_DISPLAYED)
        if result.result is not None and not result.error_in_exec:
            outputs.append(
                {
                    "output_type": "execute_result",
                    "data": {"text/plain": repr(result.result)[:_MAX_TEXT]},
                    "metadata": {},
                    "execution_count": None,
                }
            )
        error = result.error_in_exec or result.error_before_exec
        answer = {"outputs": outputs}
        if error is not None:
            answer["error"] = {"ename": type(error).__name__, "evalue": str(error)[:_MAX_TEXT]}
        return answer

    def get(self, name):
        if name not in self.ns:
            return {"missing": True}
        return {"value": wire.encode(self.ns[name], self.handle)}

    def call(self, target, args, kwargs):
        fn = self.ns.get(target) if isinstance(target, str) else self.handles.get(target)
        if fn is None:
            return {"raised": "NameError", "message": f"name {target!r} is not defined"}
        args = wire.decode(args, self.value)
        kwargs = wire.decode(kwargs, self.value)
        try:
            out = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - raising is an answer the grader judges
            return _raised(exc)
        return {"value": wire.encode(out, self.handle)}

    def getattr(self, handle, name):
        try:
            return {"value": wire.encode(getattr(self.handles[handle], name), self.handle)}
        except Exception as exc:  # noqa: BLE001
            return _raised(exc)


def _raised(exc):
    """What the grader learns of an exception: its class's name, the names of its bases (so a
    subclass of ValueError counts as one) and its message."""
    bases = [c.__name__ for c in type(exc).__mro__[1:]]
    return {"raised": type(exc).__name__, "bases": bases, "message": str(exc)[:2000]}


def _show_figures(plt):
    import base64

    for num in plt.get_fignums():
        buf = io.BytesIO()
        plt.figure(num).savefig(buf, format="png", dpi=60)
        png = base64.b64encode(buf.getvalue()).decode()
        _DISPLAYED.append(
            {"output_type": "display_data", "data": {"image/png": png}, "metadata": {}}
        )
    plt.close("all")


def serve(requests, answers):
    kernel = Kernel()
    wire.send(answers, {"ready": True, "pid": os.getpid()})
    while True:
        msg = wire.receive(requests)
        if msg is None:
            return
        op = msg.get("op")
        try:
            if op == "run":
                answer = kernel.run(msg["source"])
            elif op == "get":
                answer = kernel.get(msg["name"])
            elif op == "call":
                answer = kernel.call(msg["target"], msg["args"], msg["kwargs"])
            elif op == "getattr":
                answer = kernel.getattr(msg["handle"], msg["name"])
            else:
                answer = {"raised": "WireError", "message": f"unknown op {op!r}"}
        except Exception as exc:  # noqa: BLE001 - e.g. an unsendable result
            answer = _raised(exc)
            traceback.print_exc()
        wire.send(answers, answer)


def main():
    # the channel keeps the original stdin/stdout; the submission's own writes to file
    # descriptors 0-2 go to stderr (the grader keeps its tail for the log)
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    serve(requests, answers)


if __name__ == "__main__":
    main()
