"""Hidden inputs differ from term to term (issue 22 item 3): every hidden test draws them from
``referee.hidden_rng``, seeded by the instructor's term secret, so last term's table of hidden
inputs and answers matches nothing this term."""

import re

import nbformat
import numpy as np
import pytest

from course import layout
from course.grading import config
from course.grading.referee import hidden_rng
from course.layout import REPO_ROOT


def _draws(monkeypatch, secret, key=12):
    monkeypatch.setenv(config.TERM_SECRET_ENV, secret)
    return hidden_rng(key).normal(size=5)


def test_the_same_term_draws_the_same_inputs_and_another_term_others(monkeypatch):
    a, again = _draws(monkeypatch, "autumn"), _draws(monkeypatch, "autumn")
    b = _draws(monkeypatch, "spring")
    assert np.array_equal(a, again)
    assert not np.any(np.isclose(a, b))
    assert not np.any(np.isclose(a, _draws(monkeypatch, "autumn", key=13)))


def test_the_secret_is_read_from_the_config_as_text_never_run(tmp_path, monkeypatch):
    monkeypatch.delenv(config.TERM_SECRET_ENV, raising=False)
    cfg = tmp_path / "nbgrader_config.py"
    cfg.write_text('raise SystemExit("a config is never run")\nTERM_SECRET = "t-2027"\n')
    assert config.term_secret(cfg) == "t-2027"
    monkeypatch.setenv(config.TERM_SECRET_ENV, "from-env")
    assert config.term_secret(cfg) == "from-env"


@pytest.mark.parametrize("text", ["", 'TERM_SECRET = ""\n', "TERM_SECRET = 42\n"])
def test_no_secret_is_a_clear_error(tmp_path, monkeypatch, text):
    monkeypatch.delenv(config.TERM_SECRET_ENV, raising=False)
    cfg = tmp_path / "nbgrader_config.py"
    cfg.write_text(text)
    with pytest.raises(RuntimeError, match="TERM_SECRET"):
        config.term_secret(cfg)


def test_the_course_has_a_secret(monkeypatch):
    monkeypatch.delenv(config.TERM_SECRET_ENV, raising=False)
    assert len(config.term_secret()) >= 16


def test_no_hidden_test_draws_from_a_fixed_seed(region_of):
    fixed = re.compile(
        r"default_rng\(\s*\d+\s*\)\s*\.|^\s*rng\s*=\s*np\.random\.default_rng\(\d+\)"
    )
    found = []
    for path in sorted((REPO_ROOT / layout.SOLUTIONS).glob("*/*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            hidden = region_of(cell.source, "HIDDEN TESTS")  # every hidden region of the cell
            found += [f"{path.parent.name}: {line.strip()}" for line in hidden.splitlines()
                      if fixed.search(line)]  # fmt: skip
    assert not found, "hidden inputs from a fixed seed:\n" + "\n".join(found)
