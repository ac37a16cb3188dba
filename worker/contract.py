"""What the web server and its workers must agree on, in one place both import.

A worker may run on another host, from another install of the package; what
crosses between it and the server is defined here and nowhere else:

- **queue names**: the arq job a run is queued as, the key a worker's heartbeat
  is written to, the key that tells a worker to stop a run;
- **request signatures**: a worker signs each runner callback (method, path,
  timestamp, SHA-256 of the body) with the shared secret; the server accepts a
  callback only within :data:`MAX_SKEW` seconds of its timestamp, so a captured
  request cannot be replayed later (replays inside the window are harmless:
  callbacks are idempotent). :func:`redact` keeps secrets in URLs out of logs;
- **COMBINE archives** (OMEX): the ``manifest.xml`` that marks the main file,
  as the Web Lab wrote it (``http://identifiers.org/combine.specifications/cellml``
  for CellML, ``http://purl.org/NET/mediatypes/<mime>`` otherwise), and the zip
  layout of both the archives the server hands out and the result archives
  workers send back. The output files inside a result archive are the engine's
  format, read and written only by ``worker.fc.outputs``.

Manifests are parsed with defusedxml: no DTD at all, no entity expansion, no
network. This module imports nothing of the platform.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import mimetypes
import re
import time
import zipfile
from datetime import datetime
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import fromstring

# --- the queue ----------------------------------------------------------------------------------------

JOB_NAME = "run_experiment"


def health_check_key(queue_name: str) -> str:
    """Where arq writes a worker's heartbeat; ``/healthz`` reads it to know the pool is alive."""
    return f"{queue_name}:health-check"


def worker_key(queue_name: str, worker: str) -> str:
    """Where a worker announces itself while it lives (it expires when the worker stops refreshing it);
    ``/metrics`` counts these keys."""
    return f"{queue_name}:worker:{worker}"


def cancel_key(queue_name: str, run_id: str) -> str:
    """The Redis key a worker polls while its child runs: set means "stop now"."""
    return f"{queue_name}:cancel:{run_id}"


# --- request signatures -------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Weblab-Signature"
MAX_SKEW = 300.0
REDACTED = "REDACTED"
# Where secrets travel in URLs: the archive token is a path segment; claims (and any token or signature)
# are query parameters.
_SECRET_SEGMENT = re.compile(r"(/runner/archives/)[^/?#]+")
_SECRET_PARAMETER = re.compile(r"(?i)(^|[?&;])(claim|token|signature|sig|key|secret)=[^&;#]*")


class BadSignature(Exception):
    """A token or request signature is malformed, forged, expired or for another purpose."""


def redact(url: str) -> str:
    """A path (or URL, with its query) safe to log: archive tokens and secret query values become REDACTED."""
    url = _SECRET_SEGMENT.sub(rf"\g<1>{REDACTED}", url)
    return _SECRET_PARAMETER.sub(rf"\g<1>\g<2>={REDACTED}", url) if "=" in url else url


def _request_mac(key: str, method: str, path: str, timestamp: str, body: bytes) -> str:
    message = "\n".join([method.upper(), path, timestamp, hashlib.sha256(body).hexdigest()]).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def sign_request(key: str, method: str, path: str, body: bytes, *, now: float | None = None) -> str:
    """The value of the :data:`SIGNATURE_HEADER` for one request: ``t=<unix time>,v1=<hex HMAC>``."""
    timestamp = str(int(now or time.time()))
    return f"t={timestamp},v1={_request_mac(key, method, path, timestamp, body)}"


def verify_request(
    key: str, header: str | None, method: str, path: str, body: bytes, *, now: float | None = None
) -> None:
    """Raise :class:`BadSignature` unless ``header`` signs exactly this request, recently."""
    if not header:
        raise BadSignature(f"the request has no {SIGNATURE_HEADER} header")
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp, given = fields["t"], fields["v1"]
        when = int(timestamp)
    except (ValueError, KeyError) as exc:
        raise BadSignature(f"the {SIGNATURE_HEADER} header is malformed") from exc
    if abs((now or time.time()) - when) > MAX_SKEW:
        raise BadSignature(f"the request signature is older than {MAX_SKEW:.0f} s (or the clocks disagree)")
    if not hmac.compare_digest(_request_mac(key, method, path, timestamp, body), given):
        raise BadSignature("the request signature does not match (wrong key, or the request was altered)")


# --- COMBINE archives ---------------------------------------------------------------------------------

MANIFEST = "manifest.xml"
OMEX_NS = "http://identifiers.org/combine.specifications/omex-manifest"
CELLML_FORMAT = "http://identifiers.org/combine.specifications/cellml"
OMEX_FORMAT = "http://identifiers.org/combine.specifications/omex"
MANIFEST_FORMAT = "http://identifiers.org/combine.specifications/omex-manifest"
RESULT_MAIN = "outputs-contents.csv"  # the main file of a result archive: the engine's list of outputs
_EXTRA_TYPES = {".txt": "text/plain", ".csv": "text/csv", ".md": "text/markdown", ".json": "application/json"}


class ManifestError(ValueError):
    """A ``manifest.xml`` is unsafe, malformed or not an OMEX manifest; the message says which."""


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


def read_manifest_master(data: bytes) -> str | None:
    """The path the manifest marks as master (None if none), relative to the archive root."""
    try:
        root = fromstring(data, forbid_dtd=True)
    except DTDForbidden as e:
        raise ManifestError(
            "a DOCTYPE is not allowed in manifest.xml (no DTD, entity declaration or external"
            f" reference); remove the <!DOCTYPE ...> declaration ({e})"
        ) from e
    except (ParseError, DefusedXmlException) as e:
        raise ManifestError(f"manifest.xml is not a safe, well-formed XML file ({e})") from e
    if root.tag != f"{{{OMEX_NS}}}omexManifest":
        raise ManifestError("manifest.xml is not a COMBINE (OMEX) manifest")
    for content in root.iter(f"{{{OMEX_NS}}}content"):
        if content.get("master", "").lower() == "true":
            location = content.get("location", "")
            return location[2:] if location.startswith("./") else location.lstrip("/")
    return None


def build_omex(files: dict[str, bytes], when: datetime) -> bytes:
    """A COMBINE archive (zip): the manifest first, then every file; stamped with ``when``, so that the same
    files at the same time give the same bytes."""
    buffer = io.BytesIO()
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(files, key=lambda p: (p != MANIFEST, p)):
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[path])
    return buffer.getvalue()
