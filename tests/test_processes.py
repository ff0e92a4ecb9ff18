"""bnlab.processes: functions run in real gloo processes; failures and timeouts stop them all."""

import time

import psutil
import pytest
import torch

from bnlab.bn_on_slices import SliceCase, batch_norm_on_slices
from bnlab.processes import ProcessFailed, rank_and_size, run_distributed


def forkservers():
    """multiprocessing's fork servers started by this process (the parents of the workers)."""
    return [
        c
        for c in psutil.Process().children()
        if "multiprocessing.forkserver" in " ".join(c.cmdline())
    ]


class TestLauncher:
    def test_results_in_rank_order(self):
        assert run_distributed(rank_and_size, 2) == [(0, 2), (1, 2)]

    def test_failing_rank_is_named_and_nothing_survives(self):
        # Process 1 fails before its first collective; process 0 then waits in one, until
        # the launcher stops it (long before the timeout).
        xs = (torch.zeros(1, 2, 3), torch.zeros(1, 2, 3, dtype=torch.int64))
        case = SliceCase(xs, xs, torch.ones(3), torch.zeros(3))
        start = time.monotonic()
        with pytest.raises(ProcessFailed, match="process 1 of 2 failed") as info:
            run_distributed(batch_norm_on_slices, 2, case, timeout=60)
        assert time.monotonic() - start < 30
        assert info.value.rank == 1
        assert "Traceback" in str(info.value) and "TypeError" in str(info.value)
        servers = forkservers()
        assert servers, "the workers are forked by multiprocessing's fork server"
        assert all(s.children() == [] for s in servers), "a worker process survived"

    def test_timeout_stops_every_process(self):
        start = time.monotonic()
        with pytest.raises(ProcessFailed, match=r"\[0, 1\] of 2 gave no result within 2 s"):
            run_distributed(rank_and_size, 2, 60.0, timeout=2)
        assert time.monotonic() - start < 20
        assert all(s.children() == [] for s in forkservers())

    @pytest.mark.parametrize(
        "fn, world_size, error, match",
        [
            (lambda rank, size: rank, 2, TypeError, "importable"),
            (42, 2, TypeError, "callable"),
            (rank_and_size, 0, ValueError, "world_size must be an integer >= 1"),
        ],
    )
    def test_bad_arguments(self, fn, world_size, error, match):
        with pytest.raises(error, match=match):
            run_distributed(fn, world_size)
