"""Run a function in N local processes that form one ``torch.distributed`` process group.

Chapter 9 runs synchronized BN on real processes: `run_distributed` starts N processes, each
joins a gloo process group over TCP on 127.0.0.1 and calls the function with its rank, and the
results come back in rank order. A failure in any process stops all of them and is raised in
the caller with the failing rank and its traceback; no process is left running.

The processes are started by multiprocessing's *forkserver*: a server process, started once per
Python session with torch and `bnlab` already imported, forks each worker. That makes a launch
take a fraction of a second instead of a fresh interpreter importing torch per process, and is
safe from a Jupyter kernel (which has threads of its own). The function must therefore be
importable: defined at the top level of a module, not in a notebook or a ``__main__`` script;
and a script that calls `run_distributed` needs the usual ``if __name__ == "__main__":`` guard,
since each process imports the main module. The server exits with the session that started it.
"""

import datetime
import multiprocessing
import os
import pickle
import queue
import socket
import time
import traceback

import torch
import torch.distributed as dist

HOST = "127.0.0.1"
PRELOAD = ["torch", "torch.distributed", "bnlab.distributed", "bnlab.dataparallel"]
GRACE = 2.0  # seconds to wait for the other processes' reports after the first failure
EXIT_GRACE = 1.0  # seconds a process may be dead before its missing report counts as a failure


class ProcessFailed(RuntimeError):
    """A process started by `run_distributed` raised, crashed or ran out of time.

    Attributes
    ----------
    rank : int
        The first process that failed.
    reports : dict of int to str
        Every failed process's traceback (or what is known of its end), by rank.
    """

    def __init__(self, message, rank, reports):
        super().__init__(message)
        self.rank, self.reports = rank, reports


def free_port(host=HOST):
    """A TCP port on `host` that was free a moment ago (the OS picks it).

    Examples
    --------
    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def loopback_interface():
    """The name of the loopback network interface ("lo" on Linux), or None if none is found.

    Gloo binds to the interface named by ``GLOO_SOCKET_IFNAME``; without it gloo looks up the
    machine's hostname, and where that does not resolve it falls back to loopback with a
    warning on stderr. Processes on one machine need loopback only.
    """
    names = [name for _, name in socket.if_nameindex() if name.startswith("lo")]
    return names[0] if names else None


def _run_rank(reports, fn, rank, world_size, port, timeout, args):
    """The body of one process: join the group, call fn, report the result or the traceback."""
    try:
        if "GLOO_SOCKET_IFNAME" not in os.environ and loopback_interface():
            os.environ["GLOO_SOCKET_IFNAME"] = loopback_interface()
        torch.set_num_threads(1)  # N processes share the machine's cores
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://{HOST}:{port}",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout),
        )
        try:
            payload = pickle.dumps(fn(rank, world_size, *args))
        finally:
            dist.destroy_process_group()
        reports.put((rank, True, payload))
    except BaseException:
        reports.put((rank, False, traceback.format_exc()))


def _check_importable(fn):
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    module = getattr(fn, "__module__", None)
    if module in (None, "__main__"):
        raise TypeError(
            f"fn must be importable by the processes: {getattr(fn, '__qualname__', fn)!r} is "
            "defined in __main__ (a notebook or a script); move it into a module"
        )
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        raise TypeError(f"fn must be importable by the processes: {err}") from None


def _stop(processes):
    """Terminate whatever still runs, then kill what ignores SIGTERM; reap every process."""
    started = [p for p in processes if p.pid is not None]
    for p in started:
        if p.is_alive():
            p.terminate()
    for p in started:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
            p.join()


def _summary(text):
    """The last line of a traceback: the exception and its message."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def run_distributed(fn, world_size, *args, timeout=120.0):
    """Call ``fn(rank, world_size, *args)`` in `world_size` processes of one gloo process group.

    Parameters
    ----------
    fn : callable
        Importable (defined at the top level of a module). Runs with torch.distributed
        initialized (backend gloo, TCP on 127.0.0.1, a free port) and one intra-op thread.
    world_size : int, >= 1
    *args
        Passed to every process (pickled); each picks its part by its rank.
    timeout : float, default 120
        Seconds for the whole run, and for any single collective operation.

    Returns
    -------
    list, length world_size
        What ``fn`` returned in each process, by rank.

    Raises
    ------
    ProcessFailed
        If a process raised, died without a result or did not finish within `timeout`. The
        message names the first failed rank and shows its traceback; the other processes are
        stopped (the ones blocked in a collective with it would otherwise wait for `timeout`).

    Examples
    --------
    >>> from bnlab.dataparallel import rank_and_size
    >>> run_distributed(rank_and_size, 3)
    [(0, 3), (1, 3), (2, 3)]
    """
    _check_importable(fn)
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an integer >= 1, got {world_size!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)  # takes effect when the server starts (once)
    reports = ctx.Queue()
    port = free_port()
    processes = [
        ctx.Process(
            target=_run_rank,
            args=(reports, fn, rank, world_size, port, timeout, args),
            name=f"bnlab-rank-{rank}",
            daemon=True,
        )
        for rank in range(world_size)
    ]
    results, failures, dead_since = {}, {}, {}
    try:
        for p in processes:
            p.start()
        deadline = time.monotonic() + timeout
        while len(results) + len(failures) < world_size and time.monotonic() < deadline:
            try:
                rank, ok, payload = reports.get(timeout=0.05)
            except queue.Empty:
                _note_silent_deaths(processes, results, failures, dead_since)
                continue
            if ok:
                results[rank] = pickle.loads(payload)
            else:
                failures[rank] = payload
                deadline = min(deadline, time.monotonic() + GRACE)
    finally:
        _stop(processes)
        reports.close()
    if failures or len(results) < world_size:
        raise _failure(world_size, results, failures, timeout)
    return [results[rank] for rank in range(world_size)]


def _note_silent_deaths(processes, results, failures, dead_since):
    """Count a process that exited without a report (a crash, a signal) as failed."""
    now = time.monotonic()
    for rank, p in enumerate(processes):
        if p.exitcode is None or rank in results or rank in failures:
            continue
        dead_since.setdefault(rank, now)
        if now - dead_since[rank] > EXIT_GRACE:
            failures[rank] = f"exited with code {p.exitcode} without a result (a crash or a signal)"


def _failure(world_size, results, failures, timeout):
    if not failures:
        missing = [r for r in range(world_size) if r not in results]
        reports = {r: f"no result within {timeout:g} s" for r in missing}
        return ProcessFailed(
            f"process(es) {missing} of {world_size} gave no result within {timeout:g} s and "
            "were stopped",
            missing[0],
            reports,
        )
    first = next(iter(failures))
    others = [f"process {r}: {_summary(text)}" for r, text in failures.items() if r != first]
    message = f"process {first} of {world_size} failed:\n{failures[first].rstrip()}"
    if others:
        message += "\nlater failures (often because a peer left): " + "; ".join(others)
    return ProcessFailed(message, first, dict(failures))
