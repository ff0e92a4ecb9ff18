"""Time bnlab's BN kernels against torch on the CPU, and against the memory-bandwidth floor.

Every figure is a median over repeats; every comparison is a ratio measured in the same run.
"""

import os
import subprocess
import sys
import time

import numpy as np
import torch

from bnlab import batchnorm
from bnlab.torch_bn import TorchBN


def median_seconds(fn, repeats, number=1):
    """Median wall time of `number` calls of `fn`, over `repeats` repeats."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return float(np.median(times))


def copy_bandwidth(repeats, nbytes=256 * 2**20):
    """Measured copy bandwidth in bytes/s: one read plus one write of a large buffer."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    seconds = median_seconds(lambda: np.copyto(dst, src), repeats)
    return 2 * src.nbytes / seconds


def bytes_moved(shape, dtype):
    """Bytes each pass must move at the least: forward reads x, writes y; backward reads x, dy,
    writes dx (per-channel vectors are negligible)."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return {"forward": 2 * n, "backward": 3 * n}


def bench_shape(shape, dtype, repeats):
    rng = np.random.default_rng(0)
    channels = shape[1]
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    gamma = rng.standard_normal(channels).astype(dtype)
    beta = rng.standard_normal(channels).astype(dtype)
    _, cache = batchnorm.forward(x, gamma, beta)
    reference = TorchBN(x, gamma, beta)
    return {
        "bnlab_forward": median_seconds(lambda: batchnorm.forward(x, gamma, beta), repeats),
        "bnlab_backward": median_seconds(lambda: batchnorm.backward(dy, cache), repeats),
        "bnlab_backward_staged": median_seconds(
            lambda: batchnorm.backward_staged(dy, cache), repeats
        ),
        "torch_forward": median_seconds(reference.forward, repeats),
        "torch_backward": median_seconds(lambda: reference.backward(dy), repeats),
    }


def run(shapes, dtypes, repeats):
    """Rows of kernel timings, ratios to torch and to the bandwidth floor.

    torch runs on one thread, like numpy's elementwise operations, so the ratio compares the
    kernels and not the thread count.
    """
    torch.set_num_threads(1)
    bandwidth = copy_bandwidth(repeats)
    rows = []
    for shape in shapes:
        for dtype in dtypes:
            t = bench_shape(shape, dtype, repeats)
            floor = {k: v / bandwidth for k, v in bytes_moved(shape, dtype).items()}
            for impl in ("bnlab_forward", "bnlab_backward", "bnlab_backward_staged"):
                direction = "forward" if impl.endswith("forward") else "backward"
                rows.append(
                    {
                        "shape": "x".join(map(str, shape)),
                        "dtype": np.dtype(dtype).name,
                        "kernel": impl,
                        "seconds": t[impl],
                        "torch_seconds": t[f"torch_{direction}"],
                        "ratio_to_torch": t[impl] / t[f"torch_{direction}"],
                        "ratio_to_floor": t[impl] / floor[direction],
                    }
                )
    return {"copy_bandwidth_GBps": bandwidth / 1e9, "rows": rows}


ALLOCATOR_PROBE = """
import sys, numpy as np, kernels
from bnlab import batchnorm
shape, dtype, repeats = eval(sys.argv[1]), np.dtype(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.standard_normal(shape).astype(dtype)
gamma, beta = np.ones(shape[1], dtype), np.zeros(shape[1], dtype)
print(kernels.median_seconds(lambda: batchnorm.forward(x, gamma, beta), repeats))
"""


def allocator_effect(shape, dtype, repeats, top_pad=64 * 2**20):
    """bnlab forward timed in two fresh processes: glibc's default allocator, then one told to
    keep `top_pad` bytes of freed memory instead of returning it to the OS (MALLOC_TOP_PAD_).

    A temporary of a few MB that goes back to the OS after every call must be page-faulted in
    (and zeroed) again by the next call; torch's caching allocator never pays that.
    """
    seconds = {}
    for label, extra in (("default", {}), ("top_pad", {"MALLOC_TOP_PAD_": str(top_pad)})):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                ALLOCATOR_PROBE,
                repr(tuple(shape)),
                np.dtype(dtype).name,
                str(repeats),
            ],
            env={**os.environ, **extra},
            cwd=os.path.dirname(os.path.abspath(__file__)),
            capture_output=True,
            text=True,
            check=True,
        )
        seconds[label] = float(proc.stdout)
    return {
        "shape": "x".join(map(str, shape)),
        "dtype": np.dtype(dtype).name,
        "default_seconds": seconds["default"],
        "top_pad_seconds": seconds["top_pad"],
        "speedup": seconds["default"] / seconds["top_pad"],
    }
