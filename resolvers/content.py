"""What each kind's files must look like, and which file is the main one.

Models are CellML 1.0, 1.1 or 2.0 (their imports must be uploaded with them);
protocols are functional-curation text (UTF-8); datasets are CSV with a header
row. XML is parsed with defusedxml: a DOCTYPE (any DTD, internal or pointing
elsewhere), an entity declaration (the "billion laughs" bomb) or an external
reference is refused, never expanded or fetched.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import fromstring

from resolvers.errors import ValidationError
from resolvers.metadata import Kind
from resolvers.uploads import DTD_REFUSED

CELLML_NAMESPACES = {
    "http://www.cellml.org/cellml/1.0#": "1.0",
    "http://www.cellml.org/cellml/1.1#": "1.1",
    "http://www.cellml.org/cellml/2.0#": "2.0",
}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
MAIN_SUFFIXES = {Kind.MODEL: (".cellml",), Kind.PROTOCOL: (".txt",), Kind.DATASET: (".csv",)}
# `import [prefix =] "X.txt"` and nested protocols, `nests protocol "X.txt"`.
_PROTOCOL_IMPORT = re.compile(
    r'^\s*(?:import\s+(?:[A-Za-z_][\w]*\s*=\s*)?|nests\s+protocol\s+)"([^"]+)"', re.MULTILINE
)


def parse_xml(data: bytes, source: str) -> Element:
    """A hardened parse: refuses DTDs, entity declarations and external references, names the file on failure."""
    try:
        root: Element = fromstring(data, forbid_dtd=True)
        return root
    except DTDForbidden as e:
        raise ValidationError(source, f"{DTD_REFUSED} ({e})") from e
    except DefusedXmlException as e:
        raise ValidationError(
            source, f"XML with entity declarations or external references is refused ({e})"
        ) from e
    except ParseError as e:
        raise ValidationError(source, f"not XML ({e})") from e


def cellml_root(data: bytes, source: str) -> tuple[Element, str]:
    """The CellML ``model`` element and the CellML version, or a ValidationError if it is not CellML."""
    root = parse_xml(data, source)
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    if ns not in CELLML_NAMESPACES or root.tag != f"{{{ns}}}model":
        raise ValidationError(
            source, f"not CellML: the root element is {root.tag!r}, not a CellML 1.0/1.1/2.0 model"
        )
    return root, CELLML_NAMESPACES[ns]


def cellml_imports(root: Element) -> list[str]:
    """The relative hrefs a CellML model imports (1.1 and 2.0 ``<import xlink:href>``)."""
    hrefs = []
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.endswith("}import") and el.get(XLINK_HREF):
            href = el.get(XLINK_HREF, "")
            if "://" not in href:
                hrefs.append(href)
    return hrefs


def protocol_imports(text: str) -> list[str]:
    """The files a protocol needs: ``import [prefix =] "file"`` (standard libraries included) and nested protocols."""
    return _PROTOCOL_IMPORT.findall(text)


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValidationError(source, f"not UTF-8 text (byte {e.start})") from e


def _csv_rows(text: str, source: str) -> list[list[str]]:
    """The rows of a CSV text; a malformed one (a field past the csv module's 128 KiB cap, a stray NUL) is the
    uploader's error, named with its line, not a crash."""
    reader = csv.reader(io.StringIO(text))
    try:
        return list(reader)
    except csv.Error as e:
        raise ValidationError(source, f"line {reader.line_num}: not valid CSV ({e})") from e


def csv_header(data: bytes, source: str) -> list[str]:
    """The column names of a CSV file (its first row)."""
    rows = _csv_rows(_decode(data, source), source)
    return [cell.strip() for cell in (rows[0] if rows else [])]


def choose_main(kind: Kind, files: dict[str, bytes], main: str | None) -> str:
    """The main file: as given, else the one file of the kind's type (for models, the one no other imports)."""
    if main is not None:
        if main not in files:
            raise ValidationError(
                "main", f"{main!r} is not among the uploaded files ({', '.join(sorted(files))})"
            )
        return main
    candidates = sorted(p for p in files if p.lower().endswith(MAIN_SUFFIXES[kind]))
    if kind is Kind.MODEL and len(candidates) > 1:
        imported: set[str] = set()
        for path in candidates:
            root, _ = cellml_root(files[path], path)
            imported.update(
                posixpath.normpath(posixpath.join(posixpath.dirname(path), h)) for h in cellml_imports(root)
            )
        candidates = [p for p in candidates if p not in imported]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        wanted = " or ".join(MAIN_SUFFIXES[kind])
        raise ValidationError(
            "files", f"no {wanted} file among the uploaded files to be the {kind.value}'s main file"
        )
    raise ValidationError(
        "main", f"several files could be the main file ({', '.join(candidates)}); say which"
    )


def check_files(kind: Kind, files: dict[str, bytes], main: str) -> None:
    """Refuse a version whose main file (and, for models, every CellML file) is not what its kind needs."""
    if kind is Kind.MODEL:
        for path in sorted(files):
            if path.lower().endswith(".cellml") or path == main:
                root, _ = cellml_root(files[path], path)
                for href in cellml_imports(root):
                    target = posixpath.normpath(posixpath.join(posixpath.dirname(path), href))
                    if target not in files:
                        raise ValidationError(path, f"imports {href!r}, which was not uploaded with it")
    elif kind is Kind.PROTOCOL:
        text = _decode(files[main], main)
        if not text.strip():
            raise ValidationError(main, "protocol is blank")
    elif kind is Kind.DATASET:
        text = _decode(files[main], main)
        rows = _csv_rows(text, main)
        if not rows or not any(cell.strip() for cell in rows[0]):
            raise ValidationError(main, "CSV has no header row naming its columns")
        width = len(rows[0])
        for number, row in enumerate(rows[1:], start=2):
            if row and len(row) != width:
                raise ValidationError(main, f"line {number} has {len(row)} columns; the header has {width}")
