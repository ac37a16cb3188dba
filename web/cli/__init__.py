"""The ``weblab`` command: one module per command group, each adding its commands with ``add_commands``.

Every subcommand is documented in README.md (``tests/test_docs.py`` checks). The engine's own group,
``weblab fc``, is ``worker.fc.cli``: the engine is a library that also runs without the platform.
"""

from web.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
