"""The README documents every setting and every command (a missing entry fails here)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from resolvers.settings import Settings
from web.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    assert f"`WEBLAB_{field.upper()}`" in README, f"README.md has no entry for WEBLAB_{field.upper()}"
    assert Settings.model_fields[field].description, f"Settings.{field} has no description"


def _commands(parser: argparse.ArgumentParser, prefix: str = "weblab") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _commands(sub, f"{prefix} {name}")
                found.extend(nested or [f"{prefix} {name}"])
    return found


@pytest.mark.parametrize("command", _commands(build_parser()))
def test_every_command_is_documented(command: str) -> None:
    assert f"`{command}" in README, f"README.md does not document `{command}`"


def test_the_readme_gives_the_two_setup_commands() -> None:
    assert "make run" in README and "make test" in README
