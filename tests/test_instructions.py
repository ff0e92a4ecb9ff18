"""Every command a learner is told to run exists in the copy the learner has: the student release.

The texts a learner reads (the release's README, the landing page, the learner guide, the
problem sets' markdown and the exercises' index page) are scanned for commands in code spans and
code blocks: ``python -m MODULE`` must find MODULE in the release's own packages or its pinned
requirements, ``from MODULE import`` likewise, ``make`` needs a Makefile (the release has none),
``jupyter-book`` and ``jupyter lab`` need their packages pinned. A command that only the
instructor's repository has may be named only in a paragraph that says so.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from course import release
from course.exercise_pages import EXERCISE_INDEX

INSTRUCTOR_ONLY = "instructor's repository"
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
SPAN = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"^(?:\$ )?(?:\.venv/bin/)?(python3?|make|jupyter-book|jupyter|pip)\s+(.*)$")
IMPORT = re.compile(r"^\s*from ([\w.]+) import|^\s*import ([\w.]+)", re.M)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return release.write_release(tmp_path_factory.mktemp("release") / "public")


def learner_texts(tree):
    """``{name: text}`` of what a learner reads in the release."""
    texts = {
        "README.md": (tree / "README.md").read_text(),
        "intro.md": (tree / "intro.md").read_text(),
        "pages/learner_guide.md": (tree / "pages" / "learner_guide.md").read_text(),
        "exercises index": EXERCISE_INDEX,
    }
    for path in sorted((tree / "exercises").glob("*/*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
        texts[path.relative_to(tree).as_posix()] = "\n\n".join(markdown)
    return texts


def commands(text):
    """``[(command, paragraph)]`` of the code spans and code-block lines of `text`."""
    found = []
    paragraphs = re.split(r"\n\s*\n", FENCE.sub(lambda m: m.group(0).replace("\n\n", "\n"), text))
    for k, paragraph in enumerate(paragraphs):
        context = "\n".join(paragraphs[max(0, k - 1) : k + 1])
        blocks = FENCE.findall(paragraph)
        for code in blocks + SPAN.findall(FENCE.sub("", paragraph)):
            for line in code.splitlines():
                if COMMAND.match(line.strip()) or IMPORT.match(line):
                    found.append((line.strip(), context))
    return found


def missing_modules(tree, modules):
    """The `modules` that the release's Python cannot find (its own packages first)."""
    code = "import importlib.util, sys\nfor m in sys.argv[1:]:\n"
    code += "    try:\n        ok = importlib.util.find_spec(m) is not None\n"
    code += "    except ModuleNotFoundError:\n        ok = False\n"
    code += "    print(m, ok)\n"
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code, *modules],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()[1] == "False"]


def problems(tree, texts):
    pinned = (tree / "requirements.txt").read_text().lower()
    found, modules = [], {}
    for name, text in texts.items():
        for command, context in commands(text):
            if INSTRUCTOR_ONLY in context:
                continue
            m = COMMAND.match(command)
            if m is None:
                imp = IMPORT.match(command)
                modules.setdefault(imp.group(1) or imp.group(2), []).append((name, command))
                continue
            tool, rest = m.groups()
            if tool.startswith("python") and rest.startswith("-m "):
                modules.setdefault(rest.split()[1], []).append((name, command))
            elif tool == "make" and not (tree / "Makefile").exists():
                found.append(f"{name}: `{command}` needs a Makefile, which the release lacks")
            elif tool == "jupyter-book" and "jupyter-book==" not in pinned:
                found.append(f"{name}: `{command}`, but jupyter-book is not pinned")
            elif tool == "jupyter" and rest.startswith("lab") and "jupyterlab==" not in pinned:
                found.append(f"{name}: `{command}`, but jupyterlab is not pinned")
    for module in missing_modules(tree, sorted(modules)):
        found += [f"{name}: `{command}`: no module {module}" for name, command in modules[module]]
    return found


def test_every_named_command_exists_in_the_release(tree):
    texts = learner_texts(tree)
    named = [c for text in texts.values() for c, _ in commands(text)]
    assert any("bnlab.selfcheck" in c for c in named)  # the texts do name the learner's check
    assert problems(tree, texts) == []


def test_the_rule_finds_what_the_release_lacks(tree):
    texts = {
        "old intro": "Clone the repository and run `make book`.",
        "old header": "run `python -m course.grading selfgrade <this notebook>` from the folder",
        "old guide": "```bash\n.venv/bin/python -m course.release\n```",
        "a snippet": "```python\nfrom course.grading import submission\n```",
        "scoped": f"Only in the {INSTRUCTOR_ONLY}: `python -m course.grading selfgrade NB`.",
    }
    found = problems(tree, texts)
    assert len(found) == 4 and not [p for p in found if p.startswith("scoped")], found
