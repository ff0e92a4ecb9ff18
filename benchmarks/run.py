"""Benchmarks of the course: the book, grading and the BN kernels, printed and saved as JSON.

    python benchmarks/run.py            # the full set (a few minutes)
    python benchmarks/run.py --tiny     # seconds: what the test suite runs so this cannot rot

Figures are medians; comparisons are ratios measured side by side in the same run, because the
machines this runs on are shared and noisy. It never fails on a slow machine.
"""

import argparse
import json
import platform
import tempfile
from pathlib import Path

import autograding
import book
import kernels
import numpy as np

FULL = {
    "shapes": [(256, 1024), (64, 64, 32, 32), (32, 256, 14, 14)],
    "dtypes": [np.float32, np.float64],
    "repeats": 7,
    "class_size": 12,
}
TINY = {
    "shapes": [(64, 32), (8, 4, 6, 6)],
    "dtypes": [np.float64],
    "repeats": 2,
    "class_size": 0,
}


SECTIONS = []  # every table printed, kept for --markdown


def print_table(rows, columns):
    SECTIONS.append((rows, columns))
    widths = [max(len(c), *(len(fmt(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(fmt(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))
    print()


def fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown(result):
    """Every printed table as Markdown, for the benchmarks page of the book."""
    lines = [
        f"Measured with Python {result['machine']['python']} on `{result['machine']['cpu']}`;"
        f" copy bandwidth {result['kernels']['copy_bandwidth_GBps']:.2f} GB/s.",
        "",
    ]
    for rows, columns in SECTIONS:
        header = (c.replace("_", " ") for c in columns)  # spaces let a narrow column wrap
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--skip-build", action="store_true", help="skip the clean/cached build")
    parser.add_argument("--skip-grading", action="store_true", help="skip the grading figures")
    parser.add_argument("--out", type=Path, default=Path("_build/benchmarks.json"))
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    args = parser.parse_args(argv)
    cfg = TINY if args.tiny else FULL

    SECTIONS.clear()
    cpu = platform.processor() or platform.machine()
    result = {"machine": {"python": platform.python_version(), "cpu": cpu}}
    result["kernels"] = kernels.run(cfg["shapes"], cfg["dtypes"], cfg["repeats"])
    print(f"copy bandwidth: {result['kernels']['copy_bandwidth_GBps']:.2f} GB/s")
    print_table(
        result["kernels"]["rows"],
        ["shape", "dtype", "kernel", "seconds", "ratio_to_torch", "ratio_to_floor"],
    )

    result["allocator"] = [
        kernels.allocator_effect(shape, dtype, cfg["repeats"])
        for shape in cfg["shapes"]
        for dtype in cfg["dtypes"]
    ]
    print_table(
        result["allocator"],
        ["shape", "dtype", "default_seconds", "top_pad_seconds", "speedup"],
    )

    names = ["01_expectation_variance"] if args.tiny else None
    result["chapters"] = book.chapters(names)
    print_table(result["chapters"], ["chapter", "seconds", "peak_MiB"])

    if not args.skip_grading:
        result["grading"] = autograding.run(args.tiny, cfg["class_size"])
        autograding.print_tables(result["grading"], print_table)

    save(result, args)
    if not (args.tiny or args.skip_build):
        with tempfile.TemporaryDirectory() as tmp:
            result["build"], result["build_chapters"] = book.build_times(tmp)
        print_table([result["build"]], list(result["build"]))
        print_table(result["build_chapters"], ["chapter", "seconds_in_build"])

    save(result, args)
    print(f"wrote {args.out}" + (f" and {args.markdown}" if args.markdown else ""))
    return result


def save(result, args):
    """Write what has been measured so far (a later failure keeps the earlier figures)."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(result))


if __name__ == "__main__":
    main()
