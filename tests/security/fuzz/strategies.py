"""Hypothesis strategies shared by the REST fuzz tests: nasty text, headers, media types, bodies, uploads."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.security.fuzz.harness import CELLML, PROTOCOL, Caller

# --- strategies shared by the REST tests ------------------------------------------------------------

NASTY_TEXT = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "..",
    "../../../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%00",
    "\x00",
    "a\x00b",
    "'",
    '"',
    "\\",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "${jndi:ldap://127.0.0.1:1/a}",
    "{{7*7}}",
    "\u202e",
    "\ufeff",
    "😀",
    "Ω" * 300,
    "x" * 5000,
    "latest",
    "HEAD",
    "HEAD~1",
    "@{0}",
    "refs/heads/master",
    "-",
    "--help",
    ":",
    "^",
    "~",
    ".git/config",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "file:///etc/passwd",
    "http://127.0.0.1:1/",
    "urn:x",
]
texts = st.one_of(
    st.sampled_from(NASTY_TEXT), st.text(max_size=40), st.text(max_size=10).map(lambda t: f"a\x00{t}")
)  # NUL: PostgreSQL text refuses it
header_text = st.one_of(
    st.sampled_from(["", "*/*", "x", "a/b;c", ";;;", "=", '"', "\t", "é"]),
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
    ),
).map(str.strip)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=8,
)
MEDIA_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
    "application/sparql-query",
    "application/sparql-update",
    "text/turtle",
    "application/n-triples",
    "application/ld+json",
    "application/rdf+xml",
    "application/n-quads",
    "application/trig",
    "text/html",
    "application/xml",
    "application/zip",
    "application/octet-stream",
    "application/graphql-response+json",
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "text/csv",
    "text/tab-separated-values",
    "image/png",
    "*/*",
    "text/*",
    "application/*",
]
media_types = st.one_of(st.sampled_from(MEDIA_TYPES), header_text)
content_types = st.one_of(
    media_types,
    st.tuples(
        st.sampled_from(MEDIA_TYPES),
        st.sampled_from(
            [
                "; charset=utf-8",
                "; charset=latin-1",
                "; charset=utf-16",
                "; charset=",
                "; boundary=",
                "; boundary=x",
                ";",
                '; charset="utf-8"',
                "; q=0.5",
            ]
        ),
    ).map("".join),
)
accepts = st.one_of(
    st.none(),
    media_types,
    st.lists(
        st.tuples(
            media_types,
            st.sampled_from(["", ";q=0", ";q=1", ";q=0.5", ";q=abc", ";q=-1", ";q=1e9", ";level=1", ";q="]),
        ).map("".join),
        min_size=1,
        max_size=4,
    ).map(", ".join),
)
FORMAT_NAMES = [
    "turtle",
    "jsonld",
    "json-ld",
    "ntriples",
    "nt",
    "rdfxml",
    "rdf",
    "xml",
    "json",
    "csv",
    "tsv",
    "html",
    "nquads",
    "trig",
    "ttl",
    "TURTLE",
    "",
]
formats_ = st.one_of(st.none(), st.sampled_from(FORMAT_NAMES), texts)
byte_bodies = st.one_of(st.binary(max_size=300), texts.map(lambda t: t.encode("utf-8", "surrogatepass")))


def segment(text: str) -> str:
    """One path segment: ``text`` percent-encoded (slashes too), never empty."""
    return quote(text, safe="") or "%20"


segments = st.one_of(texts, st.uuids().map(str), st.integers().map(str)).map(segment)


@st.composite
def caller_headers(draw: Any, callers: dict[str, Caller], *, admin: bool = True) -> dict[str, str]:
    roles = ["anonymous", "user", "bogus", "malformed", "cookie"] + (["admin"] if admin else [])
    who = draw(st.sampled_from(roles))
    if who in callers:
        return callers[who].headers()
    if who == "bogus":
        return {
            "Authorization": "Bearer "
            + draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", max_size=60))
        }
    if who == "malformed":
        return {"Authorization": draw(header_text)}
    if who == "cookie":
        return {
            "Cookie": f"weblab_session={draw(st.text(alphabet='abcdef0123456789', max_size=40))}; "
            f"weblab_csrf=x",
            "X-CSRF-Token": draw(st.sampled_from(["x", "", "y"])),
        }
    return {}


def form_encode(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs).encode()


@st.composite
def multipart_bodies(
    draw: Any,
    *,
    fields: list[str],
    file_field: str = "files",
    contents: st.SearchStrategy[bytes] | None = None,
) -> tuple[bytes, str]:
    """A hand-built multipart body (so that names and file names may be anything) and its content type."""
    boundary = draw(st.sampled_from(["fuzzboundary", "x", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "a" * 70]))
    parts = []
    for name in draw(st.lists(st.sampled_from(fields), max_size=6)):
        parts.append((name, None, None, draw(texts).encode("utf-8", "surrogatepass")))
    if draw(st.booleans()):
        parts.append((draw(texts), None, None, draw(byte_bodies)))
    file_names = st.one_of(
        st.sampled_from(
            [
                "model.cellml",
                "protocol.txt",
                "a.omex",
                "a.zip",
                "manifest.xml",
                "../../evil.cellml",
                "/etc/passwd",
                "a/b/../../../c.txt",
                ".git/config",
                "",
                ".",
                "..",
                "CON",
                "a\\b.txt",
                "x" * 300,
                "名前.cellml",
                "a;b=c.txt",
                'q"uote.txt',
            ]
        ),
        texts,
    )
    for _ in range(draw(st.integers(0, 4))):
        parts.append(
            (
                draw(st.sampled_from([file_field, file_field, "archive", "file"])),
                draw(file_names),
                draw(st.one_of(st.none(), media_types)),
                draw(contents if contents is not None else upload_contents()),
            )
        )
    chunks = []
    for name, filename, ctype, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"Content-Disposition: {disposition}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        chunks.append(f"--{boundary}\r\n{head}\r\n".encode("utf-8", "surrogatepass") + data + b"\r\n")
    ending = draw(st.sampled_from([f"--{boundary}--\r\n", "", f"--{boundary}", "--other--\r\n"]))
    body = b"".join(chunks) + ending.encode()
    content_type = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                f'multipart/form-data; boundary="{boundary}"',
                "multipart/form-data",
                f"multipart/mixed; boundary={boundary}",
            ]
        )
    )
    return body, content_type


@st.composite
def zip_archives(draw: Any) -> bytes:
    buffer = io.BytesIO()
    names = st.one_of(
        st.sampled_from(
            [
                "manifest.xml",
                "model.cellml",
                "protocol.txt",
                "../../escape.txt",
                "/abs.txt",
                "a/../../b.cellml",
                "dir/",
                "metadata.rdf",
                "x.sedml",
            ]
        ),
        # zipfile truncates a name at NUL, and fails with IndexError on the empty rest
        st.text(alphabet=st.characters(exclude_characters="\x00"), min_size=1, max_size=20),
    )
    with zipfile.ZipFile(buffer, "w", draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as z:
        for _ in range(draw(st.integers(0, 4))):
            name = draw(names)
            data = draw(st.one_of(st.binary(max_size=200), st.sampled_from(XML_SNIPPETS), st.just(CELLML)))
            with warnings.catch_warnings():  # duplicate names are allowed, and meant
                warnings.simplefilter("ignore")
                try:
                    z.writestr(name, data)
                except (ValueError, UnicodeEncodeError):
                    pass
    data = buffer.getvalue()
    if draw(st.booleans()):
        return data
    cut = draw(st.integers(0, max(0, len(data) - 1)))  # a truncated or corrupted archive
    return data[:cut] + draw(st.binary(max_size=20))


XML_SNIPPETS = [
    CELLML,
    b'<?xml version="1.0"?>\n<!DOCTYPE model SYSTEM "http://127.0.0.1:1/x.dtd">\n' + CELLML,
    b'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<m>&e;</m>',
    b'<?xml version="1.0"?>\n<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>',
    b"<model",
    b"<model xmlns='http://www.cellml.org/cellml/2.0#' name='x'><component name='c'/></model>",
    b'<?xml version="1.0" encoding="utf-16"?><model/>',
    b"\xef\xbb\xbf<model/>",
    b'<omexManifest xmlns="http://identifiers.org/combine.specifications/omex-manifest">'
    b'<content location="../../x" format="http://identifiers.org/combine.specifications/cellml"/></omexManifest>',
]


def upload_contents() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        st.sampled_from(XML_SNIPPETS),
        st.just(PROTOCOL),
        st.just(PROTOCOL + b"\ntasks {"),
        zip_archives(),
        texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


@st.composite
def request_bodies(draw: Any, fields: list[str]) -> tuple[bytes | None, str | None]:
    """(body, content type): JSON (an object of the fields, or any JSON), a form, multipart, or raw bytes."""
    kind = draw(st.sampled_from(["json", "json", "form", "form", "multipart", "raw", "none"]))
    if kind == "json":
        value = draw(
            st.one_of(
                st.dictionaries(st.sampled_from(fields), st.one_of(texts, json_values), max_size=5),
                json_values,
            )
        )
        text = json.dumps(value)
        if draw(st.booleans()) and text:
            text = text[: draw(st.integers(0, len(text) - 1))]  # truncated: not valid JSON
        return text.encode(), draw(
            st.sampled_from(
                [
                    "application/json",
                    "application/json; charset=utf-8",
                    "application/json; charset=latin-1",
                    "application/jsonx",
                ]
            )
        )
    if kind == "form":
        pairs = draw(st.lists(st.tuples(st.one_of(st.sampled_from(fields), texts), texts), max_size=6))
        return form_encode(pairs), "application/x-www-form-urlencoded"
    if kind == "multipart":
        return draw(multipart_bodies(fields=fields, contents=byte_bodies))
    if kind == "raw":
        return draw(byte_bodies), draw(st.one_of(st.none(), content_types))
    return None, None


def with_type(headers: dict[str, str], content_type: str | None) -> dict[str, str]:
    return {**headers, "Content-Type": content_type} if content_type is not None else headers


TRAVERSALS = [
    "../../../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "....//....//etc/passwd",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "..\\..\\..\\etc\\passwd",
    ".git/config",
    "../.git/config",
    "../../config",
    "%00",
    "x%00.cellml",
    "a/./b",
    "a//b",
    "",
    ".",
    "..",
    "%2e",
    "~",
    "%c0%ae%c0%ae/etc/passwd",
    "%25%32%65%25%32%65/etc/passwd",
]


def raw_piece(text: str) -> str:
    """``text`` for a raw request target: percent-encoded, but keeping ``/``, ``.``, ``%`` and friends."""
    return quote(text, safe="/.%~:@!$&'()*+,;=-_") or "x"
