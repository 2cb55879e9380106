"""The public API documents itself: every function a module exports in ``__all__`` has a numpydoc docstring with
Parameters (when it takes any), Returns (or Yields), and Raises when its body raises; and no docstring points
outside the repository."""

import importlib
import inspect
import pkgutil
import re
import textwrap

import pytest

import insitu4d


def _public_functions():
    found = []
    for info in pkgutil.walk_packages(insitu4d.__path__, "insitu4d."):
        if info.name == "insitu4d.cli" or ".examples" in info.name:
            continue  # the CLI's functions are typer commands: their help is the documentation
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                found.append(pytest.param(obj, id=f"{info.name}.{name}"))
    return found


FUNCTIONS = _public_functions()


def test_the_public_api_is_found():
    assert len(FUNCTIONS) > 150  # the walk reaches every subpackage


@pytest.mark.parametrize("func", FUNCTIONS)
def test_public_function_docstring(func):
    doc = inspect.getdoc(func) or ""
    assert doc, "no docstring"
    if inspect.signature(func).parameters:
        assert "Parameters\n----------" in doc, "no Parameters section"
    assert "Returns\n-------" in doc or "Yields\n------" in doc, "no Returns section"
    source = textwrap.dedent(inspect.getsource(getattr(func, "__wrapped__", func)))
    if re.search(r"^\s+raise [A-Z]\w+\(", source, re.M):
        assert "Raises\n------" in doc, "raises, but has no Raises section"


def test_no_docstring_points_outside_the_repository():
    for info in pkgutil.walk_packages(insitu4d.__path__, "insitu4d."):
        text = inspect.getsource(importlib.import_module(info.name))
        assert "../shared" not in text and not re.search(r"(?<!docs/)science\.md", text), info.name
        assert "science notes" not in text, info.name
