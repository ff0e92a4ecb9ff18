"""No graded answer can be read where a student can read (issue 21 item 5).

This test's own rule of what gives a graded answer away, independent of the generator's (which
looks for solution *lines*), applied to the text a reader sees (HTML without tags, LaTeX without
backslashes, lower case, one space):

- a multiple-choice question (recognized by most of the words of its stem) followed, within a
  few hundred words, by its right option singled out: the right letter named more often than
  any other (``**B.** ...``, "(B) is the answer"), or the right option's words without the
  words of every other option beside them;
- a numeric answer written as ``name = value``; a number of seven or more digits that a hidden
  test expects; a hidden test's literal input of four or more numbers (expected values on an
  ``assert`` line are not inputs: the worked examples' results are public by design, the
  chapters work them out).

It reads the answers from ``solutions/`` and looks for them in the built site (both editions,
where built), ``notebooks/`` and a fresh student release; a planted answer in a dropdown of a
built page shows that it fails.
"""

import html
import json
import re
from dataclasses import dataclass, field

import nbformat
import pytest

from course import layout
from course.layout import REPO_ROOT

SITES = {
    "site": REPO_ROOT / "_build" / "html",
    "self-study site": REPO_ROOT / "_build" / "self-study" / "_build" / "html",
}
STOP = set(
    "a an and are as at be because by do does for from has have in is it its of on or so that the "
    "their them then these this to what when where which why with".split()
)
NEAR = 300  # words after a question's stem in which an answer would give it away
MIN_WORDS = 4  # an option of fewer content words ("gamma and beta") is told by its letter only


def _norm(text):
    """Text as a reader compares it: no markup, no LaTeX backslashes, one space, lower case."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = re.sub(r"[\\$*`_{}^]", " ", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def _words(text):
    return re.findall(r"\(?[a-z0-9.]+\)?", _norm(text))


def _content(text):
    words = (w.strip(".()") for w in _words(text))
    return {w for w in words if w not in STOP and len(w) > 1}


@dataclass
class Secret:
    what: str
    text: str = ""  # a literal that must not appear (numbers, ``name = value``)
    letter: str = ""  # multiple choice: the right letter,
    stem: set = field(default_factory=set)  # the content words of the question,
    options: dict = field(default_factory=dict)  # and of each option


def _question(markdown, name):
    """``(stem, {letter: option text})`` of the question about `name` in `markdown`."""
    after = markdown.split(f"`{name}`", 1)[1]
    after = re.split(r"\n\n(?!(?:- )?\*\*[A-D]\.)|`answer_", after)[0] + "\n"
    parts = re.split(r"(?:^|\s)(?:- )?\*\*([A-D])\.\*\*", after)
    options = {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}
    return parts[0], options


def secrets(region_of):
    """Every graded answer of the course, read from ``solutions/`` with the regions of the tests'
    oracle (`region_of`, conftest.py)."""
    out = []
    for path in sorted((REPO_ROOT / layout.SOLUTIONS).glob("*/*.ipynb")):
        nb = nbformat.read(path, 4)
        where = path.parent.name
        for cell in nb.cells:
            solution = region_of(cell.source, "SOLUTION")
            hidden = region_of(cell.source, "HIDDEN TESTS")
            for name, letter in re.findall(r'^(answer_\w+) = "([A-D])"$', solution, re.M):
                md = next(c.source for c in nb.cells if f"`{name}`" in c.source)
                stem, options = _question(md, name)
                out.append(
                    Secret(
                        f"{where}: {name}",
                        letter=letter,
                        stem=_content(stem),
                        options={k: _content(v) for k, v in options.items()},
                    )  # fmt: skip
                )
            for name, value in re.findall(r"^(\w+) = (-?[\d.]+(?:\*\*[\d.]+)?)$", solution, re.M):
                out.append(Secret(f"{where}: {name}", text=f"{name} = {value}"))
            for number in re.findall(r"\d\.\d{6,}", hidden):
                out.append(Secret(f"{where}: a number a hidden test expects", text=number[:9]))
            inputs = "\n".join(
                s for s in hidden.splitlines() if not s.lstrip().startswith("assert")
            )
            for lst in re.findall(r"\[[-\d., ]+\]", inputs):
                if len(re.findall(r"-?\d+\.?\d*", lst)) >= 4:
                    out.append(Secret(f"{where}: a hidden input", text=re.sub(r"\s", "", lst)))
    return out


def _labels(letter):
    k = letter.lower()
    return {f"({k})", f"{k}.", f"{k})", f"({k}."}


def _label(words, i, letter):
    """Whether ``words[i]`` names option `letter` as a label, not as the end of a tuple."""
    w = words[i]
    tuple_end = w == f"{letter.lower()})" and i > 0 and words[i - 1].startswith("(")
    return w in _labels(letter) and not tuple_end


def _covers(words, wanted, share):
    return bool(wanted) and len(wanted & words) >= share * len(wanted)


def _gives_away(words, s):
    """Whether the word list `words` singles out the right option of multiple-choice `s`."""
    n = len(s.stem)
    for start in range(0, max(1, len(words) - n), max(1, n // 2)):
        if not _covers(
            {w.strip(".()") for w in words[start : start + max(3 * n, 60)]}, s.stem, 0.75
        ):
            continue
        near = words[start : start + NEAR]
        # a letter as a label ("(b)", "b.", "b)"), never the article "a", nor the end of a tuple
        # ("(n, d)", a shape, reads "(n d)": not option D)
        letters = {k: sum(_label(near, i, k) for i in range(len(near))) for k in s.options}
        right = letters.pop(s.letter)
        if right >= 2 and all(right > c for c in letters.values()):
            return True
        around = {w.strip(".()") for w in words[max(0, start - NEAR) : start + 2 * NEAR]}
        right_words = s.options[s.letter]
        if (
            len(right_words) >= MIN_WORDS
            and _covers({w.strip(".()") for w in near}, right_words, 0.9)
            and not all(_covers(around, o, 0.9) for k, o in s.options.items() if k != s.letter)
        ):
            return True
    return False


def leaks(text, found_in, secret_list):
    """Messages for every secret of `secret_list` that `text` gives away."""
    words, squeezed, out = None, re.sub(r"\s", "", text), []
    for s in secret_list:
        if s.letter:
            words = words if words is not None else _words(text)
            if _gives_away(words, s):
                out.append(f"{found_in}: the answer of {s.what} ({s.letter})")
        elif s.text in text or re.sub(r"\s", "", s.text) in squeezed:
            out.append(f"{found_in}: {s.what} ({s.text!r})")
    return out


def _site_texts(root):
    for page in sorted(root.rglob("*.html")):
        if "_sources" not in page.parts:
            yield page.relative_to(root), page.read_text(errors="replace")


def _notebook_text(path):
    nb = json.loads(path.read_text())
    parts = []
    for cell in nb["cells"]:
        parts.append("".join(cell["source"]))
        parts += [json.dumps(o) for o in cell.get("outputs", [])]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def answers(region_of):
    return secrets(region_of)


def test_the_rule_reads_every_kind_of_answer(answers):
    found = answers
    mc = [s for s in found if s.letter]
    assert len(mc) >= 6 and all(len(s.options) == 4 and s.stem for s in mc), mc
    assert any("hidden input" in s.what for s in found)
    assert any(s.text.startswith("n_learnable") for s in found)


@pytest.mark.parametrize("edition", sorted(SITES))
def test_the_site_gives_no_graded_answer(edition, answers):
    root = SITES[edition]
    if not (root / "index.html").exists():
        pytest.skip(f"the {edition} is not built here ({root}): make book / make book-self-study")
    found = [m for rel, text in _site_texts(root) for m in leaks(text, rel, answers)]
    assert not found, "\n".join(found)


def test_the_notebooks_give_no_graded_answer(answers):
    paths = sorted((REPO_ROOT / layout.NOTEBOOKS).glob("*.ipynb"))
    found = [m for p in paths for m in leaks(_notebook_text(p), p.name, answers)]
    assert not found, "\n".join(found)


def test_the_release_gives_no_graded_answer(tmp_path, answers):
    from course import release

    dest = tmp_path / "release"
    release.write_release(dest)
    assert not (dest / layout.CORPUS).exists() and not (dest / layout.SOLUTIONS).exists()
    found = []
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        rel = path.relative_to(dest)
        if path.suffix == ".ipynb" and layout.EXERCISES in rel.parts:
            # a problem set states its own questions; only its code could give an answer away
            nb = nbformat.read(path, 4)
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        elif path.suffix in (".md", ".ipynb", ".html", ".py", ".txt", ".yml", ".json"):
            text = path.read_text(errors="replace")
        else:
            continue
        found += leaks(text, rel, answers)
    assert not found, "\n".join(found)


def test_a_planted_answer_in_a_dropdown_is_found(answers):
    """The rule on a broken copy of a built page: one graded question and its answer planted in
    a dropdown, as the self-checks are written; and a hidden input planted in a code cell."""
    page = SITES["site"] / "chapters" / "04_bn_forward.html"
    text = page.read_text() if page.exists() else "<html><body><p>BN</p></body></html>"
    md = nbformat.read(REPO_ROOT / layout.EXERCISES / "ps5_train_inference" /
                       "train_inference.ipynb", 4)  # fmt: skip
    question = next(c.source for c in md.cells if "`answer_why`" in c.source)
    question = question.split("`answer_why`", 1)[1]
    mc = [s for s in answers if s.what.endswith("answer_why")]
    assert mc and not leaks(text, "the page", mc)
    planted = text.replace(
        "</body>",
        f"<details><summary>{html.escape(question)}</summary><p><strong>{mc[0].letter}.</strong>"
        " is right, as the experiment shows.</p></details></body>",
    )
    assert leaks(planted, "broken copy", mc), "a planted answer went unnoticed"
    listed = text.replace("</body>", f"<p>{html.escape(question)}</p></body>")
    assert not leaks(listed, "the question alone", mc), "the question alone is not an answer"
    hidden = next(s for s in answers if "hidden input" in s.what)
    assert leaks(f"<pre>cases = {hidden.text}</pre>", "broken copy", [hidden])


def test_the_rule_finds_the_leaks_the_review_found():
    """The quiz of problem set 4 before issue 21 (its question about coupling) against chapter
    5's self-check as it was then, which gave the answer away."""
    old_question = (
        "`answer_coupling`: why does $\\partial L/\\partial x_i$ depend on every "
        "$\\partial L/\\partial y_j$ of the batch?\n**A.** Because of the scaling by $\\gamma$.\n"
        "**B.** Because $\\mu_B$ and $\\sigma_B^2$ are functions of every $x_j$ of the batch.\n"
        "**C.** Because the loss is computed over the whole batch.\n"
        "**D.** It does not: it depends on $\\partial L/\\partial y_i$ only."
    )
    stem, options = _question(old_question, "answer_coupling")
    old = Secret("ps4 (before)", letter="B", stem=_content(stem),
                 options={k: _content(v) for k, v in options.items()})  # fmt: skip
    old_page = (
        "<details><summary>1. (Quiz Q4) Why does \\(\\partial L/\\partial x_i\\) depend on all "
        "\\(\\partial L/\\partial y_j\\)? (A) because of \\(\\gamma\\), (B) because \\(\\mu_B\\) "
        "and \\(\\sigma_B^2\\) are functions of all \\(x_j\\), (C) because the loss is computed "
        "over the whole batch, (D) it does not.</summary><p><strong>B.</strong> The mean and the "
        "variance of the batch depend on every example.</p></details>"
    )
    assert leaks(old_page, "chapter 5 before", [old])


def test_graded_answer_letters_are_balanced(region_of):
    letters = [
        letter
        for path in sorted((REPO_ROOT / layout.SOLUTIONS).glob("*/*.ipynb"))
        for cell in nbformat.read(path, 4).cells
        for letter in re.findall(
            r'^answer_\w+ = "([A-D])"$', region_of(cell.source, "SOLUTION"), re.M
        )
    ]
    assert letters, "no graded multiple-choice answer found"
    for letter in "ABCD":
        assert letters.count(letter) <= len(letters) / 3, (letter, letters)
    # no run a guesser could follow: the same letter twice in a row at most once
    assert sum(a == b for a, b in zip(letters, letters[1:], strict=False)) <= 1, letters


def test_every_graded_cell_has_a_hidden_part(region_of):
    """Hard-coding the visible tests' inputs earns nothing: every graded cell also checks on
    hidden inputs (issue 21 item 3)."""
    bare = [
        f"{path.parent.name}: {cell.metadata.nbgrader.grade_id}"
        for path in sorted((REPO_ROOT / layout.SOLUTIONS).glob("*/*.ipynb"))
        for cell in nbformat.read(path, 4).cells
        if cell.metadata.get("nbgrader", {}).get("grade")
        and not region_of(cell.source, "HIDDEN TESTS").strip()
    ]
    assert not bare, "graded cells with only visible checks:\n" + "\n".join(bare)
