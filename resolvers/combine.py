"""COMBINE archives: the ``manifest.xml`` that marks a version's main file, and OMEX zips of a version.

The manifest follows the OMEX specification as the Web Lab wrote it: formats are
``http://identifiers.org/combine.specifications/cellml`` for CellML and
``http://purl.org/NET/mediatypes/<mime>`` otherwise. Manifests that users upload
are parsed with defusedxml: no DTD at all (refused), no entity expansion, no network.
"""

from __future__ import annotations

import io
import mimetypes
import zipfile
from datetime import datetime
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import fromstring

from resolvers.errors import ValidationError

MANIFEST = "manifest.xml"
OMEX_NS = "http://identifiers.org/combine.specifications/omex-manifest"
CELLML_FORMAT = "http://identifiers.org/combine.specifications/cellml"
OMEX_FORMAT = "http://identifiers.org/combine.specifications/omex"
MANIFEST_FORMAT = "http://identifiers.org/combine.specifications/omex-manifest"
_EXTRA_TYPES = {".txt": "text/plain", ".csv": "text/csv", ".md": "text/markdown", ".json": "application/json"}


def format_of(path: str) -> str:
    """The COMBINE format URI of a file, from its name."""
    lower = path.lower()
    if lower.endswith(".cellml"):
        return CELLML_FORMAT
    ext = "." + lower.rsplit(".", 1)[-1] if "." in lower else ""
    mime = _EXTRA_TYPES.get(ext) or mimetypes.guess_type(lower)[0] or "application/octet-stream"
    return "http://purl.org/NET/mediatypes/" + mime


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def write_manifest(paths: list[str], main: str) -> bytes:
    """A manifest listing ``paths`` with ``main`` as master; the same files give the same bytes."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<omexManifest xmlns="{OMEX_NS}">',
        f'  <content location="." format="{OMEX_FORMAT}"/>',
        f'  <content location="./{MANIFEST}" format="{MANIFEST_FORMAT}"/>',
    ]
    for path in sorted(paths):
        master = ' master="true"' if path == main else ""
        lines.append(f'  <content location="./{_escape(path)}" format="{format_of(path)}"{master}/>')
    lines.append("</omexManifest>")
    return ("\n".join(lines) + "\n").encode()


def read_manifest_master(data: bytes, source: str) -> str | None:
    """The path the manifest marks as master (None if none), relative to the archive root."""
    try:
        root = fromstring(data, forbid_dtd=True)
    except DTDForbidden as e:
        raise ValidationError(source, "a DOCTYPE is not allowed in manifest.xml (no DTD, entity declaration or"
                                      f" external reference); remove the <!DOCTYPE ...> declaration ({e})") from e
    except (ParseError, DefusedXmlException) as e:
        raise ValidationError(source, f"manifest.xml is not a safe, well-formed XML file ({e})") from e
    if root.tag != f"{{{OMEX_NS}}}omexManifest":
        raise ValidationError(source, "manifest.xml is not a COMBINE (OMEX) manifest")
    for content in root.iter(f"{{{OMEX_NS}}}content"):
        if content.get("master", "").lower() == "true":
            location = content.get("location", "")
            return location[2:] if location.startswith("./") else location.lstrip("/")
    return None


def build_omex(files: dict[str, bytes], when: datetime) -> bytes:
    """A COMBINE archive (zip) of a version: the manifest first, then every file; stamped with ``when``."""
    buffer = io.BytesIO()
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(files, key=lambda p: (p != MANIFEST, p)):
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[path])
    return buffer.getvalue()
