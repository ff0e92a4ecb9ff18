"""bnlab.quickcheck: the chapters' interactive self-checks, their answers checked independently."""

import re
from fractions import Fraction
from pathlib import Path

import pytest
from scipy import stats

from bnlab import quickcheck

ROOT = Path(__file__).resolve().parents[1]

# every numeric answer, computed here from the question's own data
ORACLE = {
    "01": sum(Fraction(k, 10) for k in range(1, 6)) + Fraction(6, 2),
    "02": float(stats.expon.stats(moments="k")),
    "03": (50_000 - 25_000) / (50_000 - 1),
    "04": 16 * 32 * 32,
    "05": 0,
    "06": 0.9**5,
    "07": 2 * 256,
    "08": 2 * 2,
    "09": (6 * 1 + 6 * 1 + 6 * 1 + 2 * 11) / 20,
}


def chapters():
    return sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))


@pytest.mark.parametrize("chapter", sorted(quickcheck.QUESTIONS))
class TestQuestions:
    def test_one_choice_and_one_number(self, chapter):
        kinds = [q["type"] for q in quickcheck.questions(chapter)]
        assert sorted(kinds) == ["multiple_choice", "numeric"]

    def test_one_right_option_with_feedback_for_each(self, chapter):
        for q in quickcheck.questions(chapter):
            if q["type"] == "multiple_choice":
                assert sum(a["correct"] for a in q["answers"]) == 1
                assert all(a["feedback"].strip() for a in q["answers"])
                right = next(a for a in q["answers"] if a["correct"])
                assert right["feedback"].startswith("Right")

    def test_every_option_has_words_outside_its_formulas(self, chapter):
        # an option's radio button is named by its label; a label that is only a formula is
        # typeset by MathJax, whose output gives no accessible name (axe-core: label)
        for q in quickcheck.questions(chapter):
            for a in q["answers"] if q["type"] == "multiple_choice" else []:
                assert re.sub(r"\$[^$]*\$", "", a["answer"]).strip(" ,.:;"), a

    def test_numeric_answer_matches_the_oracle(self, chapter):
        (q,) = [q for q in quickcheck.questions(chapter) if q["type"] == "numeric"]
        value = q["answers"][0]["value"]
        digits = q["precision"]
        assert float(f"{float(ORACLE[chapter]):.{digits}g}") == pytest.approx(value, abs=1e-12)


def test_every_chapter_shows_its_own_self_check():
    for path in chapters():
        calls = re.findall(r'quickcheck\.show\("(\d\d)"\)', path.read_text())
        assert calls == [path.name[:2]], path.name
    assert len(chapters()) == len(quickcheck.QUESTIONS)


def test_right_answers_are_not_always_in_one_place():
    places = [
        [a["correct"] for a in q["answers"]].index(True)
        for qs in quickcheck.QUESTIONS.values()
        for q in qs
        if q["type"] == "multiple_choice"
    ]
    assert len(set(places)) >= 2


def test_unknown_chapter_is_refused():
    with pytest.raises(ValueError, match="chapter must be one of"):
        quickcheck.questions("10")
