"""The examples in the sparql package's docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module", ["sparql.lexer", "sparql.formats", "sparql.update_analysis", "sparql.registry", "sparql.limits"]
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
