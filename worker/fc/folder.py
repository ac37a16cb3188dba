"""The folder tree a protocol may read files from: protocol text is untrusted.

Users upload protocols, so every file a protocol names (``import``, nested
``protocol "..."``, ``load("...")``, ``interpolate("...")``) must lie inside
the protocol's own folder tree (``ProtocolFolder``: the folder of the protocol
first loaded, or the ``root`` given to ``load_protocol``) or the packaged
library (BasicLibrary.txt, CardiacLibrary.txt): absolute paths, ``..`` that
climbs out and symbolic links that lead out are refused with a located
``ProtocolError``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from . import ast
from .errors import ProtocolError, error_at
from .values import Closure, StringValue, number

LIBRARY_DIR = Path(str(files(__package__).joinpath("library")))


def _lexical(path: Path) -> Path:
    """An absolute path with ``.`` and ``..`` removed, without following symbolic links."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _within(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


@dataclass(frozen=True)
class ProtocolFolder:
    """The folder tree that a protocol's text may read files from (and the packaged library).

    Shared by a protocol and everything it imports or nests, so that an
    imported file cannot reach further than the protocol first loaded.
    """

    root: Path

    def _roots(self) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
        lexical = (_lexical(self.root), _lexical(LIBRARY_DIR))
        return lexical, (self.root.resolve(), LIBRARY_DIR.resolve())

    def file(self, base_dir: str | Path, written: str, what: str, pos: ast.Pos | None = None) -> Path:
        """The file that ``written`` (a path in protocol text) names, relative to ``base_dir``.

        Raises ``ProtocolError`` (located at ``pos``) when the path is absolute or leaves
        the allowed folders, by ``..`` or through a symbolic link.
        """
        if not written:
            raise error_at(f"{what}: the file name is empty", pos)
        if PurePosixPath(written).is_absolute() or PureWindowsPath(written).drive:
            raise error_at(
                f"{what} {written!r}: absolute paths are not allowed; name a file in the "
                "protocol's own folder by a relative path",
                pos,
            )
        candidate = _lexical(Path(base_dir) / written)
        lexical_roots, resolved_roots = self._roots()
        if not _within(candidate, lexical_roots):
            raise error_at(
                f"{what} {written!r}: '..' leads outside the protocol's folder; "
                "only files inside it (or the standard library) can be read",
                pos,
            )
        if not _within(candidate.resolve(), resolved_roots):
            raise error_at(
                f"{what} {written!r}: a symbolic link leads outside the protocol's folder; "
                "only files inside it (or the standard library) can be read",
                pos,
            )
        return candidate

    def check_protocol(self, path: Path) -> None:
        """Refuse a protocol file that is itself outside the folder (e.g. a symbolic link out of it)."""
        lexical_roots, resolved_roots = self._roots()
        if not (_within(_lexical(path), lexical_roots) and _within(path.resolve(), resolved_roots)):
            raise ProtocolError(f"protocol file {path} is outside the protocol folder {self.root}")

    def protocol(self, base_dir: Path, written: str, what: str, pos: ast.Pos | None = None) -> Path:
        """An imported or nested protocol: in ``base_dir`` (the importing file's), else in the packaged library."""
        candidate = self.file(base_dir, written, what, pos)
        if candidate.exists():
            return candidate
        if ".." not in PurePosixPath(written).parts:
            packaged = LIBRARY_DIR / written
            if packaged.is_file() and _within(packaged.resolve(), (LIBRARY_DIR.resolve(),)):
                return packaged
        return candidate


def resolve_import(base: str | Path, relative: str) -> Path:
    """An imported protocol's path: next to the importing file ``base``, else in the packaged library."""
    folder = Path(base).parent
    return ProtocolFolder(folder).protocol(folder, relative, "import")


def load_function(base: Path, folder: ProtocolFolder | None = None) -> Closure:
    """The ``load("file.csv")`` built-in: a data file (legacy 2-d CSV layout) relative to the protocol.

    Only files inside ``folder`` (default: ``base``) can be read.
    """
    allowed = folder if folder is not None else ProtocolFolder(base)

    def load(args: list[Any]) -> np.ndarray:
        if len(args) != 1 or not isinstance(args[0], StringValue):
            raise ProtocolError("load() takes one argument: the path of a data file, as a string")
        path = allowed.file(base, args[0].value, "load()")
        try:
            data = np.loadtxt(path, dtype=float, delimiter=",", ndmin=2, unpack=True, comments="#")
        except OSError as exc:
            raise ProtocolError(f"load(): cannot read {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ProtocolError(f"load(): {path} is not a CSV of numbers: {exc}") from None
        return number(data)

    return Closure(["path"], [None], builtin=load, name="load")
