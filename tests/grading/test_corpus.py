"""The corpus of independently written submissions (corpus/, issue 21): every variant gets exactly
the points it declares, part by part, through the instructor's own autograde (sandbox, canary,
two workers). A correct variant that loses a point means a hidden test is unfair; a wrong one
that gains a point means a test is blind.
"""

import pytest

from course import layout
from course.grading import corpus
from course.grading.runner import assignments

ASSIGNMENTS = assignments()
#: at least this many variants per graded part: correct ones, and ones that deserve less there
MIN_CORRECT, MIN_WRONG = 2, 1


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_variant_declares_its_score_for_every_graded_cell(assignment):
    _, nb = corpus.source_notebook(assignment)
    cells = corpus.graded_cells(nb)
    found = corpus.variants(assignment)
    assert found, f"corpus/{assignment}/ holds no variant"
    bad = [f"{v.name}: {p}" for v in found for p in corpus.problems(v, cells)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_part_has_correct_and_wrong_variants(assignment):
    counts = corpus.counts(assignment)
    print(f"\n{assignment}:", "; ".join(f"{p}: {c} ok, {w} wrong" for p, (c, w) in counts.items()))
    thin = [
        f"{part}: {c} correct (need {MIN_CORRECT}), {w} wrong (need {MIN_WRONG})"
        for part, (c, w) in counts.items()
        if c < MIN_CORRECT or w < MIN_WRONG
    ]
    assert not thin, f"corpus/{assignment}: too few variants\n" + "\n".join(thin)


@pytest.mark.grading
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_variant_gets_exactly_its_declared_points(assignment, tmp_path):
    graded = corpus.grade(assignment, tmp_path / "course", workers=2)
    wrong = [line for v, result in graded.values() for line in corpus.mismatches(v, result)]
    ok = sum(v.kind == "correct" for v, _ in graded.values())
    print(f"\n{assignment}: {len(graded)} variants graded ({ok} correct, {len(graded) - ok} wrong)")
    assert graded, f"corpus/{assignment}/ holds no variant"
    assert not wrong, "\n".join(wrong)


def test_the_corpus_is_secret_material():
    from course import release

    assert layout.CORPUS not in release.TREE
    assert not any(str(t).startswith(layout.CORPUS) for t in release.TREE)
