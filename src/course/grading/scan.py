"""Static scan of a submission for code that tampers with grading, for the instructor's review.

The scan never changes a score: the score is what the hidden tests measured. It lists code that
goes beyond an honest answer -- importing the reference package, patching modules or builtins,
reaching the referee's channel, the gradebook or other files -- so that the instructor can
look at those submissions by hand (see the threat model in the instructor guide).
"""

import ast

import nbformat

from course.layout import GRADED, LOCKED, cell_kind

# names whose mere use in an answer deserves a look
SUSPICIOUS_NAMES = {
    "bnlab": "imports the reference package",
    "grading": "touches the grading package",
    "builtins": "touches builtins",
    "__builtins__": "touches builtins",
    "subprocess": "starts processes",
    "ctypes": "uses ctypes",
    "importlib": "uses the import machinery",
    "sqlite3": "opens databases",
    "gc": "walks the garbage collector",
    "signal": "handles signals",
    "resource": "changes resource limits",
    "shutil": "copies or deletes files",
    "setattr": "sets attributes dynamically",
    "exec": "executes generated code",
    "eval": "evaluates generated code",
    "__import__": "imports dynamically",
    "gradebook": "mentions the gradebook",
    "environ": "reads or changes environment variables",
}


def _findings(source):
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"syntax error (line {exc.lineno})"]
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module.split(".")[0]]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
            target = node.value
            if (
                isinstance(node.ctx, ast.Store)
                and isinstance(target, (ast.Name, ast.Attribute))
                and getattr(target, "id", None) != "self"
            ):
                found.append(f"line {node.lineno}: assigns an attribute of another object")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "gradebook" in node.value or "sys.modules" in node.value:
                names = ["gradebook"]
        for name in names:
            if name in SUSPICIOUS_NAMES:
                found.append(f"line {node.lineno}: {SUSPICIOUS_NAMES[name]} ({name})")
    return sorted(set(found))


def scan_notebook(path):
    """Return ``[(cell index, finding), ...]`` for the learner-written code cells of `path`.

    Graded test cells and other locked cells are skipped: autograding replaces them with the
    instructor's version anyway.
    """
    nb = nbformat.read(str(path), as_version=4)
    report = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell_kind(cell) in (*GRADED, LOCKED):
            continue
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        report += [(i, f) for f in _findings(source)]
    return report
