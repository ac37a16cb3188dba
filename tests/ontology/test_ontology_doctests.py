"""The examples in the ontology modules' docstrings run, so they cannot go stale."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "ontology.cellml",
    "ontology.protocols",
    "ontology.compatibility",
    "ontology.search",
    "ontology.graphs",
    "ontology.shacl",
    "ontology.vocab",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
