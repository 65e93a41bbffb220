"""The examples in docstrings (``>>>``) run and hold."""
import doctest
import importlib
import pkgutil

import pytest

import analogc
import hw_models


def _modules():
    names = []
    for pkg in (hw_models, analogc):
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            names.append(m.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
