"""Write the corpus notebooks from the variant tables in ``corpus/variants_ps*.py``.

Each variant is the student notebook of its problem set (``exercises/<assignment>/``) with the
answer cells (nbgrader ``solution: true``) filled in, and the top-level metadata
``bnlab_corpus = {"kind", "about", "expected"}``. Nothing else of the student notebook changes:
cell ids, nbgrader metadata and every other cell are copied as they are, so re-running this
script after the student notebooks change (new quiz texts, new checksums) refreshes the corpus.

Usage (from the repository root)::

    .venv/bin/python corpus/generate.py            # write every problem set
    .venv/bin/python corpus/generate.py ps4 --run  # write one, then execute its variants

``--run`` executes every written notebook with nbclient and prints, per variant, the *visible*
test cells that raised. It cannot run the hidden tests (the corpus author does not see them);
the grading test does that through the real pipeline.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent
ROOT = CORPUS.parent
ASSIGNMENTS = {
    "ps1_moments": "moments.ipynb",
    "ps2_gradient_variance": "gradient_variance.ipynb",
    "ps3_bn_forward": "bn_forward.ipynb",
    "ps4_bn_backward": "bn_backward.ipynb",
    "ps5_train_inference": "train_inference.ipynb",
    "ps6_distributed": "distributed_bn.ipynb",
}


def student_notebook(assignment: str) -> dict:
    path = ROOT / "exercises" / assignment / ASSIGNMENTS[assignment]
    return json.loads(path.read_text(encoding="utf-8"))


def graded_points(nb: dict) -> dict[str, float]:
    """grade_id -> points of every graded cell (nbgrader ``grade: true``)."""
    out = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            out[meta["grade_id"]] = meta.get("points", 0)
    return out


def answer_cell_ids(nb: dict) -> list[str]:
    return [
        cell["id"]
        for cell in nb["cells"]
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    ]


def _source_lines(text: str) -> list[str]:
    text = text.strip("\n") + "\n"
    lines = text.splitlines(keepends=True)
    lines[-1] = lines[-1].rstrip("\n")
    return lines


def build_variant(assignment: str, name: str, variant: dict) -> dict:
    """The notebook of one variant: the student notebook with its answer cells replaced."""
    nb = copy.deepcopy(student_notebook(assignment))
    cells = variant["cells"]
    answer_ids = answer_cell_ids(nb)
    missing = sorted(set(answer_ids) - set(cells))
    unknown = sorted(set(cells) - set(answer_ids))
    if missing or unknown:
        raise ValueError(
            f"{assignment}/{name}: answer cells missing {missing}, not answer cells {unknown}"
        )
    for cell in nb["cells"]:
        if cell.get("id") in cells:
            cell["source"] = _source_lines(cells[cell["id"]])
    points = graded_points(nb)
    lost = variant.get("loses", [])
    unknown_lost = sorted(set(lost) - set(points))
    if unknown_lost:
        raise ValueError(f"{assignment}/{name}: loses unknown grade ids {unknown_lost}")
    if variant["kind"] == "correct" and lost:
        raise ValueError(f"{assignment}/{name}: a correct variant loses nothing")
    if variant["kind"] == "wrong" and not lost:
        raise ValueError(f"{assignment}/{name}: a wrong variant must lose a part")
    expected = {gid: (0 if gid in lost else pts) for gid, pts in points.items()}
    nb["metadata"]["bnlab_corpus"] = {
        "kind": variant["kind"],
        "about": variant["about"],
        "expected": expected,
    }
    return nb


def write(assignment: str, variants: dict[str, dict]) -> list[Path]:
    folder = CORPUS / assignment
    folder.mkdir(exist_ok=True)
    written = []
    for name, variant in variants.items():
        nb = build_variant(assignment, name, variant)
        path = folder / f"{name}.ipynb"
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    stale = sorted(set(folder.glob("*.ipynb")) - set(written))
    for path in stale:
        path.unlink()
    return written


def run_visible(path: Path) -> list[str]:
    """Execute one notebook; return the grade ids of graded cells that raised."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True)
    client.execute(cwd=str(path.parent))
    failed = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            label = meta.get("grade_id") or cell.get("id")
            failed.append(f"{label}: {errors[0]['ename']}: {errors[0]['evalue'][:120]}")
    return failed


TABLE_START = "<!-- variant table: written by corpus/generate.py -->"
TABLE_END = "<!-- end of variant table -->"


def variant_table() -> str:
    """The README's table: every variant, its kind, the points it deserves, what it does."""
    lines = []
    for assignment in ASSIGNMENTS:
        paths = sorted((CORPUS / assignment).glob("*.ipynb"))
        if not paths:
            continue
        metas = [
            json.loads(p.read_text(encoding="utf-8"))["metadata"]["bnlab_corpus"] for p in paths
        ]
        total = sum(metas[0]["expected"].values())
        n_correct = sum(m["kind"] == "correct" for m in metas)
        lines += [
            f"### {assignment} ({total} points; {n_correct} correct, "
            f"{len(metas) - n_correct} wrong)",
            "",
            "| variant | kind | points | loses | what it does |",
            "|---|---|---|---|---|",
        ]
        for path, meta in zip(paths, metas, strict=True):
            lost = [g for g, v in meta["expected"].items() if v == 0]
            got = sum(meta["expected"].values())
            about = meta["about"].replace("|", "\\|")
            lines.append(
                f"| `{path.stem}` | {meta['kind']} | {got}/{total} | "
                f"{', '.join(f'`{g}`' for g in lost) or '-'} | {about} |"
            )
        lines.append("")
        counts = []
        for gid in metas[0]["expected"]:
            good = sum(m["kind"] == "correct" for m in metas)
            bad = sum(m["kind"] == "wrong" and m["expected"][gid] == 0 for m in metas)
            counts.append(f"`{gid}` {good}/{bad}")
        lines += [
            "Per graded cell, correct variants / wrong variants that lose it: "
            + "; ".join(counts)
            + ".",
            "",
        ]
    return "\n".join(lines)


def write_readme_table() -> None:
    readme = CORPUS / "README.md"
    if not readme.exists():
        return
    text = readme.read_text(encoding="utf-8")
    if TABLE_START not in text or TABLE_END not in text:
        return
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    readme.write_text(
        head + TABLE_START + "\n\n" + variant_table() + "\n" + TABLE_END + tail, encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="prefixes of assignments (ps1, ps4, ...)")
    parser.add_argument("--run", action="store_true", help="execute the written notebooks")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(CORPUS))
    for assignment in ASSIGNMENTS:
        if args.only and not any(assignment.startswith(p) for p in args.only):
            continue
        module = importlib.import_module("variants_" + assignment.split("_")[0])
        paths = write(assignment, module.VARIANTS)
        print(f"{assignment}: {len(paths)} variants")
        if args.run:
            for path in paths:
                nb = json.loads(path.read_text(encoding="utf-8"))
                meta = nb["metadata"]["bnlab_corpus"]
                failed = run_visible(path)
                print(f"  {path.stem:32s} {meta['kind']:7s} raised: {failed or '-'}")
                graded_raised = {f.split(":")[0] for f in failed} & set(meta["expected"])
                undeclared = sorted(g for g in graded_raised if meta["expected"][g] != 0)
                if undeclared:
                    print(f"    !! raised but declared as earned: {undeclared}")
    write_readme_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
