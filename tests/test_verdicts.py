"""Verdicts report their margins (bnlab.experiments.Verdicts), and the sweep reads them
(course.verdicts): the expected margins are worked out by hand, not with the code under test."""

import json

import numpy as np
import pytest
from scipy.stats import norm

from bnlab.experiments import Verdicts, compare, k_for
from course import verdicts as sweep


def records(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


class TestMargins:
    def test_above_in_standard_errors(self, capsys):
        v = Verdicts()
        v.above("a", 1.5, 1.0, 0.1, k=3)  # (1.5 - 1) / 0.1 = 5 SE
        assert v.margins["a"] == pytest.approx((5.0, 3.0, ">", "SE"))
        assert capsys.readouterr().out.startswith("ok   a")
        with pytest.raises(AssertionError, match="no longer support: b"):
            v.above("b", 1.2, 1.0, 0.1, k=3)  # 2 SE < 3

    def test_below_and_plain_distance_without_se(self):
        v = Verdicts(strict=False)
        v.below("c", 0.25, 1.0)  # no SE: the distance to the threshold
        assert v.margins["c"] == pytest.approx((0.75, 0.0, ">", "abs"))
        v.below("d", 2.0, 1.0)
        assert v.results["d"][0] is False and v.margins["d"][0] == pytest.approx(-1.0)

    def test_near_is_the_worst_entry(self):
        v = Verdicts(strict=False)
        v.near("e", [1.0, 1.3, 0.9], [1.0, 1.0, 1.0], 0.1, k=4)  # worst: 0.3 / 0.1 = 3 SE
        assert v.margins["e"] == pytest.approx((3.0, 4.0, "<", "SE"))
        assert v.results["e"][0] is True
        v.near("f", 1.5, 1.0, 0.1, k=4, tol=0.2)  # (0.5 - 0.2) / 0.1 = 3 SE
        assert v.margins["f"][0] == pytest.approx(3.0)

    def test_above_every_entry_decided_by_the_smallest(self):
        v = Verdicts(strict=False)
        v.above("g", [2.0, 1.4, 3.0], 1.0, [0.1, 0.1, 0.5], k=3)  # 10, 4, 4 SE
        assert v.margins["g"][0] == pytest.approx(4.0)

    def test_an_entry_without_spread_is_certain_and_nan_fails(self):
        v = Verdicts(strict=False)
        v.above("h", [2.0, 1.4], 1.0, [0.0, 0.1], k=3)
        assert v.margins["h"][0] == pytest.approx(4.0) and v.results["h"][0]
        v.above("i", 2.0, 1.0, float("nan"))
        assert not v.results["i"][0]
        assert v.results["i"][1] == "2 vs 1: no standard error"
        v.near("i2", 1.0, 1.0, float("nan"))  # agreement is not shown by a NaN either
        assert not v.results["i2"][0] and v.results["i2"][1].endswith("no standard error")
        assert v.margins["i2"][3] == "SE"

    @pytest.mark.parametrize("method", ["above", "below", "near"])
    def test_a_negative_standard_error_is_refused(self, method):
        with pytest.raises(ValueError, match="se must be >= 0"):
            getattr(Verdicts(), method)("x", 1.0, 0.0, -0.1)

    def test_compared_margin_is_the_difference_in_se(self):
        c = compare([10.0, 11, 12], [1.0, 1.2, 0.8], factor=5)  # 11 - 5 = 6, SE sqrt(1/3 + 25/75)
        v = Verdicts()
        v.compared("j", c)
        assert v.margins["j"][0] == pytest.approx(6 / np.sqrt(1 / 3 + 1 / 3))
        with pytest.raises(AssertionError):
            v.compared("k", c, "less")

    def test_a_claim_checked_twice_is_refused(self):
        v = Verdicts()
        v.check("same words", True)
        with pytest.raises(ValueError, match="checked twice"):
            v.check("same words", True)


def test_k_for_keeps_the_family_tail_of_one_claim():
    assert k_for(1, k=3.0) == 3.0
    k10 = k_for(10, k=3.0)
    assert 10 * norm.sf(k10) == pytest.approx(norm.sf(3.0))
    with pytest.raises(ValueError, match="n must be >= 1"):
        k_for(0)


def test_the_record_file_gets_every_margin_and_nothing_raises(tmp_path, monkeypatch):
    path = tmp_path / "v.jsonl"
    monkeypatch.setenv("BNLAB_VERDICTS", str(path))
    monkeypatch.setenv("BNLAB_SEED", "7")
    v = Verdicts()  # strict, but recording: a failure is written, not raised
    v.above("fails", 1.0, 2.0, 0.5, k=3)
    v.near("holds", 1.0, 1.0, 0.5)
    v.check("bare", True)
    got = records(path)
    assert [r["claim"] for r in got] == ["fails", "holds", "bare"]
    assert got[0] == {
        "claim": "fails",
        "ok": False,
        "offset": 7,
        "margin": -2.0,
        "bound": 3.0,
        "sense": ">",
        "unit": "SE",
    }
    assert got[2]["margin"] is None


def run(chapter, offset, *verdicts):
    keys = ("claim", "margin", "bound", "sense", "unit", "ok")
    return {
        "chapter": chapter,
        "offset": offset,
        "seconds": 1.0,
        "error": None,
        "stderr": [],
        "verdicts": [dict(zip(keys, v, strict=True)) for v in verdicts],
    }


def test_the_table_lists_failing_verdicts_first_with_their_worst_offset():
    runs = [
        run("03_x", 0, ("wide", 9.0, 3.0, ">", "SE", True), ("tight", 4.0, 3.0, ">", "SE", True)),
        run("03_x", 1, ("wide", 8.0, 3.0, ">", "SE", True), ("tight", 2.5, 3.0, ">", "SE", False)),
        run("05_y", 0, ("near", 1.0, 4.5, "<", "SE", True), ("bare", None, None, None, None, True)),
        run("05_y", 1, ("near", 4.0, 4.5, "<", "SE", True), ("bare", None, None, None, None, True)),
    ]
    rows = sweep.table(runs, [0, 1])
    assert [r["claim"] for r in rows][:3] == ["tight", "near", "wide"]
    tight, near, wide = rows[:3]
    assert (tight["worst_offset"], tight["worst_slack"], tight["failed"]) == (1, -0.5, [1])
    assert (near["worst_offset"], near["worst_slack"]) == (1, 0.5)
    assert (wide["worst_offset"], wide["worst_slack"]) == (1, 5.0)
    text = sweep.markdown(rows, runs, [0, 1])
    assert "verdicts failed: 1 of 4" in text
    assert text.index("**FAIL** tight") < text.index("| near |")
