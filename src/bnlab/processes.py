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
import socket
import time
import traceback
from multiprocessing.connection import wait

import torch
import torch.distributed as dist

HOST = "127.0.0.1"
PRELOAD = [
    "torch",
    "torch.distributed",
    "bnlab.distributed",
    "bnlab.bn_on_slices",
    "bnlab.dataparallel",
]
GRACE = 2.0  # seconds to wait for the other processes' reports after the first failure


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


def rank_and_size(rank, world_size, pause=0.0):
    """The smallest function a process can run: its rank and the number of processes.

    After `pause` seconds: a long pause shows what `run_distributed` does when processes run out
    of time.
    """
    time.sleep(pause)
    return rank, world_size


def _run_rank(conn, fn, rank, world_size, port, timeout, args):
    """The body of one process: join the group, call fn, send the result or the traceback.

    The report is sent (synchronously, through this process's own pipe) before the process
    leaves the group, so a process that fails reports before its peers can notice it is gone.
    """
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
        report = (True, time.time(), pickle.dumps(fn(rank, world_size, *args)))
    except BaseException:
        report = (False, time.time(), traceback.format_exc())
    try:
        conn.send_bytes(pickle.dumps(report))
    finally:
        conn.close()
        if dist.is_initialized():
            dist.destroy_process_group()


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
        message names the process that failed first and shows its traceback, then the later
        failures (usually peers that lost it). All processes are stopped and reaped before it
        is raised: the ones blocked in a collective with a failed peer would otherwise wait.

    Notes
    -----
    Each process reports through a pipe of its own: the result pickled, or the traceback and
    the time of the failure. A process that dies without a report closes its pipe, which the
    caller sees at once. After the first failure the others get `GRACE` seconds to report.

    Examples
    --------
    >>> run_distributed(rank_and_size, 3)
    [(0, 3), (1, 3), (2, 3)]
    """
    _check_importable(fn)
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an integer >= 1, got {world_size!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)  # takes effect when the server starts (once per session)
    port = free_port()
    processes, pending = [], {}
    results, failures = {}, {}  # failures: rank -> (time of failure, report)
    try:
        for rank in range(world_size):
            reader, writer = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_run_rank,
                args=(writer, fn, rank, world_size, port, timeout, args),
                name=f"bnlab-rank-{rank}",
                daemon=True,
            )
            processes.append(p)
            p.start()
            writer.close()  # the child holds the only write end: its death closes the pipe
            pending[reader] = rank
        deadline = time.monotonic() + timeout
        while pending and (left := deadline - time.monotonic()) > 0:
            for reader in wait(list(pending), timeout=left):
                rank = pending.pop(reader)
                _receive(reader, rank, processes[rank], results, failures)
                if failures:
                    deadline = min(deadline, time.monotonic() + GRACE)
    finally:
        _stop(processes)
        for reader in pending:
            reader.close()
    if failures or len(results) < world_size:
        raise _failure(world_size, results, failures, timeout)
    return [results[rank] for rank in range(world_size)]


def _receive(reader, rank, process, results, failures):
    """Read one process's report into `results` or `failures`."""
    try:
        ok, when, payload = pickle.loads(reader.recv_bytes())
    except EOFError:
        process.join(timeout=5)
        failures[rank] = (
            time.time(),
            f"exited with code {process.exitcode} without a result (a crash or a signal)",
        )
        return
    finally:
        reader.close()
    if ok:
        results[rank] = pickle.loads(payload)
    else:
        failures[rank] = (when, payload)


def _failure(world_size, results, failures, timeout):
    missing = [r for r in range(world_size) if r not in results and r not in failures]
    late = {r: f"no result within {timeout:g} s (stopped)" for r in missing}
    if not failures:
        return ProcessFailed(
            f"process(es) {missing} of {world_size} gave no result within {timeout:g} s and "
            "were stopped",
            missing[0],
            late,
        )
    ordered = sorted(failures, key=lambda r: failures[r][0])
    reports = {r: failures[r][1] for r in ordered} | late
    first = ordered[0]
    message = f"process {first} of {world_size} failed:\n{reports[first].rstrip()}"
    others = [f"process {r}: {_summary(text)}" for r, text in reports.items() if r != first]
    if others:
        message += "\nlater failures (often because a peer left): " + "; ".join(others)
    return ProcessFailed(message, first, reports)
