import numpy as np
import pytest

from bnlab import seeds


class TestOffset:
    def test_unset_is_zero(self, monkeypatch):
        monkeypatch.delenv("BNLAB_SEED", raising=False)
        assert seeds.offset() == 0
        assert seeds.seed(5) == 5

    def test_empty_is_zero(self, monkeypatch):
        monkeypatch.setenv("BNLAB_SEED", "")
        assert seeds.offset() == 0

    @pytest.mark.parametrize("value, expected", [("1", 1000), (" 3 ", 3000)])
    def test_shifts_every_seed(self, monkeypatch, value, expected):
        monkeypatch.setenv("BNLAB_SEED", value)
        assert seeds.seed(0) == expected
        assert seeds.seed(42) == expected + 42

    @pytest.mark.parametrize("value", ["-1", "abc", "1.5"])
    def test_bad_value_names_the_variable(self, monkeypatch, value):
        monkeypatch.setenv("BNLAB_SEED", value)
        with pytest.raises(ValueError, match="BNLAB_SEED must be a non-negative integer"):
            seeds.offset()


class TestSeed:
    @pytest.mark.parametrize("k", [-1, 1000])
    def test_range(self, k):
        with pytest.raises(ValueError, match=r"k must be in \[0, 1000\)"):
            seeds.seed(k)

    @pytest.mark.parametrize("k", [1.0, True, "1"])
    def test_type(self, k):
        with pytest.raises(TypeError, match="k must be an integer"):
            seeds.seed(k)

    def test_offsets_give_disjoint_seed_sets(self, monkeypatch):
        sets = []
        for off in ("0", "1", "2"):
            monkeypatch.setenv("BNLAB_SEED", off)
            sets.append({seeds.seed(k) for k in range(seeds.STRIDE)})
        assert not (sets[0] & sets[1]) and not (sets[1] & sets[2])

    def test_rng_differs_with_offset(self, monkeypatch):
        monkeypatch.setenv("BNLAB_SEED", "0")
        a = seeds.rng(0).random(4)
        monkeypatch.setenv("BNLAB_SEED", "1")
        b = seeds.rng(0).random(4)
        assert not np.allclose(a, b)
        np.testing.assert_array_equal(b, np.random.default_rng(1000).random(4))
