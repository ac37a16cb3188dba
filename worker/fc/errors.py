"""Errors raised by the functional-curation engine.

Exception tree::

    FcError                    base of everything the engine raises on purpose
    ├── ProtocolError          a protocol is wrong (syntax, a failed assert, a bad operand ...);
    │                          carries file, line and column of the offending source
    └── InapplicableError      the model lacks ontology terms the protocol requires

A ``ProtocolError`` raised deep inside an evaluation without a location gets
one attached by the first enclosing node that knows its position
(``with_location``), so the user always sees where in the protocol it happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for the annotation: ast imports nothing, but errors need not import it at run time
    from .ast import Pos


class FcError(Exception):
    """Base class of the engine's own errors."""


class ProtocolError(FcError):
    """Something in a protocol is wrong; says what, and where."""

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.trace: list[str] = []  # "called from file:line:col", innermost first
        # A simulation that failed part-way: the results of the iterations it completed
        # (see tasks._Collector.partial), which post-processing still gets to use.
        self.partial: dict[str, Any] | None = None
        super().__init__(str(self))

    def add_trace(self, where: str) -> None:
        """Record a function call the error passed through (for a protocol-level traceback)."""
        if where not in self.trace:
            self.trace.append(where)
            self.args = (str(self),)

    @property
    def located(self) -> bool:
        return self.file is not None

    def with_location(self, file: str, line: int, column: int) -> ProtocolError:
        """Attach a location if none is known yet; returns self for ``raise e.with_location(...)``."""
        if self.file is None:
            self.file, self.line, self.column = file, line, column
            self.args = (str(self),)
        return self

    def __str__(self) -> str:
        if self.file is None:
            text = self.message
        elif not self.line:
            text = f"{self.file}: {self.message}"
        else:
            text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        return text + "".join(f"\n  called from {where}" for where in self.trace)


class InapplicableError(FcError):
    """The model lacks annotations for ontology terms the protocol requires."""

    def __init__(self, missing_terms: list[str]) -> None:
        self.missing_terms = list(missing_terms)
        super().__init__("model is missing required terms: " + ", ".join(self.missing_terms))


def error_at(message: str, pos: Pos | None) -> ProtocolError:
    """A ``ProtocolError`` located at ``pos``, or unlocated for a generated node (line 0)."""
    if pos is None or pos.line == 0:
        return ProtocolError(message)
    return ProtocolError(message, pos.file, pos.line, pos.column)
