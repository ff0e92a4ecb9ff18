"""The concept table (course.concepts) and the links between chapters and problem sets
(course.crosslinks): current in this course, and failing when something goes stale or dangles."""

import json
import re
import shutil

import nbformat
import pytest

from course import concepts, crosslinks
from course.exercise_pages import exercise_page
from course.layout import REPO_ROOT
from course.myst_to_ipynb import Book


def test_nothing_dangles_and_the_readme_table_is_current():
    assert concepts.problems() == []
    assert (REPO_ROOT / "README.md").read_text() == concepts.readme_text()


def test_readme_rows_cover_every_part_of_every_problem_set():
    # independent of course.concepts: the part headings of the student notebooks, by a regex
    # of this test, against the parts the README's table links to
    headings = set()
    for path in sorted((REPO_ROOT / "exercises").glob("ps*/*.ipynb")):
        number = int(re.match(r"ps(\d+)_", path.parent.name)[1])
        for cell in json.loads(path.read_text())["cells"]:
            first = "".join(cell["source"]).split("\n", 1)[0]
            match = re.match(r"## Part ([A-Z]) \(", first)
            if cell["cell_type"] == "markdown" and match:
                headings.add(f"[{number} {match[1]}](exercises/{path.parent.name}/{path.name})")
    readme = (REPO_ROOT / "README.md").read_text()
    rows = set(re.findall(r"\| (\[\d+ [A-Z]\]\(exercises/[^)]+\))", readme))
    assert len(headings) >= 30
    assert rows == headings


def test_every_chapter_but_the_experiments_is_practised():
    note = concepts.numbering_note()
    assert "chapter 8 has no problem set" in note
    assert "5 → chapters 5–7" in note and "6 → chapter 9" in note


@pytest.fixture
def course(tmp_path):
    """The sources the table is made from, copied: chapters, solutions, tests, the package,
    README and configuration."""
    for name in ("chapters", "solutions", "tests", "src/bnlab"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__*"))
    for name in ("README.md", "_config.yml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_missing_link_in_a_chapter_is_named(course):
    line = concepts.section_line("sec-folding", course)
    _edit(course / "chapters" / "07_placement.md", line + "\n", "")
    assert concepts.problems(course) == [
        f"chapters/07_placement.md, sec-folding: add the line {line!r}"
    ]
    assert concepts.main(["--check", "--root", str(course)]) == 1


def test_a_missing_link_in_a_problem_set_is_named(course):
    row = next(c for c in concepts.CONCEPTS if (c.problem_set, c.part) == ("ps6_distributed", "C"))
    line = concepts.part_line(row, course)
    path = course / "solutions" / "ps6_distributed" / "distributed_bn.ipynb"
    _edit(path, json.dumps(line + "\n")[1:-1], "")
    assert concepts.problems(course) == [f"solutions/ps6_distributed part C: add the line {line!r}"]


def test_a_renamed_label_dangles(course):
    _edit(course / "chapters" / "06_train_inference.md", "(sec-warmup)=", "(sec-warm-up)=")
    found = concepts.problems(course)
    assert any("no chapter section is labelled sec-warmup" in p for p in found)


def test_a_renamed_test_dangles(course):
    _edit(
        course / "tests" / "test_folding.py", "def test_matches_torch_layer_then_bn", "def test_x"
    )
    assert concepts.problems(course) == [
        "Folding BN into the layer before it: tests/test_folding.py has no test "
        "TestFold::test_matches_torch_layer_then_bn"
    ]


def test_a_renamed_function_dangles(course):
    _edit(course / "src" / "bnlab" / "gradvar.py", "def fit_power_law(", "def fit_law(")
    assert concepts.problems(course) == [
        "The 1/B law's slope on log-log axes: the function bnlab.gradvar.fit_power_law "
        "does not exist"
    ]


def test_a_part_without_a_row_is_named(course):
    path = course / "solutions" / "ps3_bn_forward" / "bn_forward.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("## Part F (1 point): new"))
    nbformat.write(nb, path)
    assert concepts.problems(course) == [
        "problem set ps3_bn_forward part F has no row in course.concepts.CONCEPTS"
    ]


def test_a_stale_table_is_rewritten(course):
    readme = course / "README.md"
    _edit(readme, "| Two-pass variance |", "| Two pass variance |")
    assert concepts.main(["--check", "--root", str(course)]) == 1
    assert concepts.main(["--root", str(course)]) == 0
    assert readme.read_text() == (REPO_ROOT / "README.md").read_text()


def test_part_labels_and_bad_names():
    assert crosslinks.part_label("ps5_train_inference", "H") == "ps5-part-h"
    assert crosslinks.parse_part("## Part C (1 point): quiz\n\ntext") == ("C", 1, "quiz")
    assert crosslinks.parse_part("## Part C: quiz") is None
    with pytest.raises(ValueError, match="folder must be a problem set's folder"):
        crosslinks.part_label("homework", "A")
    with pytest.raises(ValueError, match="letter must be one capital letter"):
        crosslinks.part_label("ps1_moments", "a")


def test_the_exercise_page_labels_parts_and_links_inside_the_book():
    page = exercise_page(
        REPO_ROOT / "exercises" / "ps5_train_inference" / "train_inference.ipynb", "student"
    )
    text = "\n".join(c.source for c in page.cells if c.cell_type == "markdown")
    for letter in "ABCDEFGH":
        assert f"(ps5-part-{letter.lower()})=\n## Part {letter} (" in text
    assert "chapter 6, {ref}`sec-momentum-conventions`" in text
    assert "chapter 5, {ref}`ch-bn-backward-why`" in text
    assert "https://" not in text.split("## Part A", 1)[1].split("## Part B")[0]


def test_the_notebook_form_of_a_chapter_links_a_part_to_its_exercise_page():
    site = "https://example.org/course/"
    target = Book(REPO_ROOT, site).target("ps5-part-e")
    assert (target.docname, target.anchor) == (
        "exercise_pages/ps5_train_inference/train_inference",
        "ps5-part-e",
    )
    form = (REPO_ROOT / "notebooks" / "07_placement.ipynb").read_text()
    assert "train_inference.html#ps5-part-e)" in form


def test_a_fork_points_the_links_at_its_own_website():
    source = "*Practises chapter 7, [Folding](https://a.github.io/b/chapters/07_placement.html#sec-folding).*"
    assert crosslinks.site_links(source, "https://c.github.io/d/") == (
        "*Practises chapter 7, [Folding](https://c.github.io/d/chapters/07_placement.html#sec-folding).*"
    )
    assert crosslinks.website_markdown(source, "ps5_train_inference") == (
        "*Practises chapter 7, {ref}`sec-folding`.*"
    )


def test_a_link_to_a_section_whose_title_has_a_formula_shows_no_tex():
    # Sphinx writes a title's formula as raw TeX in a {ref}'s text: such a link gets plain text
    source = (
        "[What $\\epsilon$ does](https://a.github.io/b/chapters/04_bn_forward.html#ch-eps), "
        "[$\\gamma$ and $\\beta$](https://a.github.io/b/chapters/04_bn_forward.html#ch-undo)"
    )
    assert crosslinks.website_markdown(source, "ps3_bn_forward") == (
        "{ref}`What ε does <ch-eps>`, {ref}`γ and β <ch-undo>`"
    )
    with pytest.raises(ValueError, match=r"\\\\frac"):
        crosslinks.website_markdown(
            "[$\\frac12$](https://a.github.io/b/chapters/04_bn_forward.html#x)", "ps3_bn_forward"
        )
