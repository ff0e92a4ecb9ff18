"""Each package's docstring is its index: every module of `bnlab` and `course` is listed there."""

import importlib
import pkgutil

import pytest


@pytest.mark.parametrize("package", ["bnlab", "course"])
def test_docstring_names_every_module(package):
    pkg = importlib.import_module(package)
    modules = {f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)}
    modules.discard(f"{package}.__main__")
    missing = sorted(m for m in modules if f"`{m}`" not in pkg.__doc__)
    assert not missing, f"{package}/__init__.py's index lacks {missing}"
    listed = {word.strip("`") for word in pkg.__doc__.split() if word.startswith(f"`{package}.")}
    assert listed <= modules, f"the index lists modules that do not exist: {listed - modules}"
