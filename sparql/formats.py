"""Result formats, content negotiation, and serializers that stop at the row cap.

The endpoint answers with the format the caller asks for, by the ``Accept``
header (q-values honoured) or by a ``format`` parameter (a short name or a
media type). Solutions are serialized here rather than by pyoxigraph because
pyoxigraph serializes a whole result at once, and the endpoint must stop at
``max_rows`` or at ``max_bytes`` and say it did (the ``Weblab-Results-Truncated``
header): :class:`SolutionWriter` writes a result row by row, so the writer can
stop before the row that would pass the byte cap and still close the document.

>>> negotiate("application/sparql-results+json;q=0.5, text/csv", SOLUTION_FORMATS).name
'csv'
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    aliases: tuple[str, ...] = ()


SPARQL_JSON = Format("json", "application/sparql-results+json", ("application/json", "srj"))
SPARQL_XML = Format("xml", "application/sparql-results+xml", ("application/xml", "text/xml", "srx"))
SPARQL_CSV = Format("csv", "text/csv")
SPARQL_TSV = Format("tsv", "text/tab-separated-values")
TURTLE = Format("turtle", "text/turtle", ("ttl", "application/x-turtle"))
NTRIPLES = Format("ntriples", "application/n-triples", ("nt", "n-triples", "text/plain"))
NQUADS = Format("nquads", "application/n-quads", ("nq", "n-quads"))
TRIG = Format("trig", "application/trig")
RDFXML = Format("rdfxml", "application/rdf+xml", ("rdf", "xml-rdf", "rdf-xml"))
JSONLD = Format("jsonld", "application/ld+json", ("json-ld",))
HTML = Format("html", "text/html", ("application/xhtml+xml",))

SOLUTION_FORMATS = (SPARQL_JSON, SPARQL_XML, SPARQL_CSV, SPARQL_TSV)
BOOLEAN_FORMATS = (SPARQL_JSON, SPARQL_XML)
GRAPH_FORMATS = (TURTLE, NTRIPLES, RDFXML, JSONLD, NQUADS, TRIG)
BY_NAME = {f.name: f for f in (*SOLUTION_FORMATS, *GRAPH_FORMATS, HTML)}

_RDF_FORMAT = {
    "turtle": ox.RdfFormat.TURTLE,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "nquads": ox.RdfFormat.N_QUADS,
    "trig": ox.RdfFormat.TRIG,
    "rdfxml": ox.RdfFormat.RDF_XML,
    "jsonld": ox.RdfFormat.JSON_LD,
}


class NotAcceptable(Exception):
    """None of the formats the caller accepts can express this result."""

    def __init__(self, offered: Iterable[Format]) -> None:
        names = ", ".join(f.media_type for f in offered)
        super().__init__(f"none of the requested formats is available for this result; available: {names}")


def _parse_accept(accept: str) -> list[tuple[str, float, int]]:
    ranges = []
    for index, part in enumerate(accept.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        q = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media, q, index))
    return ranges


def _matches(media_range: str, fmt: Format) -> int:
    """Specificity of a match (3 exact, 2 type/*, 1 */*), 0 when none."""
    types = (fmt.media_type, *[a for a in fmt.aliases if "/" in a])
    if media_range in types:
        return 3
    if media_range.endswith("/*") and any(t.startswith(media_range[:-1]) for t in types):
        return 2
    if media_range == "*/*":
        return 1
    return 0


def negotiate(accept: str | None, offered: tuple[Format, ...]) -> Format:
    """The offered format the ``Accept`` header prefers; the first offered one when there is no header.

    Cached for ordinary headers: a client sends the same ``Accept`` header query after query
    (long ones, which nobody sends twice, are not kept).
    """
    if accept is None or len(accept) <= 200:
        return _negotiate_cached(accept, offered)
    return _negotiate(accept, offered)


@functools.lru_cache(maxsize=256)
def _negotiate_cached(accept: str | None, offered: tuple[Format, ...]) -> Format:
    return _negotiate(accept, offered)


def _negotiate(accept: str | None, offered: tuple[Format, ...]) -> Format:
    if not accept or not accept.strip():
        return offered[0]
    best: tuple[float, int, int, int] | None = None
    chosen: Format | None = None
    ranges = _parse_accept(accept)
    for order, fmt in enumerate(offered):
        # The most specific range that matches a format decides its q (RFC 9110 §12.5.1).
        matching = [(spec, q, idx) for media, q, idx in ranges if (spec := _matches(media, fmt))]
        if not matching:
            continue
        spec, q, idx = max(matching, key=lambda m: m[0])
        if q <= 0:
            continue
        key = (q, spec, -idx, -order)
        if best is None or key > best:
            best, chosen = key, fmt
    if chosen is None:
        raise NotAcceptable(offered)
    return chosen


def by_parameter(value: str, offered: tuple[Format, ...]) -> Format:
    """The format named by a ``format=`` parameter (short name, alias or media type)."""
    wanted = value.strip().lower()
    for fmt in offered:
        if wanted in (fmt.name, fmt.media_type, *fmt.aliases):
            return fmt
    raise NotAcceptable(offered)


# --- terms -----------------------------------------------------------------------------------


def _json_term(term: object) -> dict[str, Any]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out: dict[str, Any] = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, ox.Triple):
        return {
            "type": "triple",
            "value": {
                "subject": _json_term(term.subject),
                "predicate": _json_term(term.predicate),
                "object": _json_term(term.object),
            },
        }
    raise TypeError(f"not an RDF term: {term!r}")


def _xml_term(term: object) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    if isinstance(term, ox.Literal):
        if term.language:
            return f"<literal xml:lang={quoteattr(term.language)}>{escape(term.value)}</literal>"
        if term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            return f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}</literal>"
        return f"<literal>{escape(term.value)}</literal>"
    if isinstance(term, ox.Triple):
        return (
            "<triple>"
            + f"<subject>{_xml_term(term.subject)}</subject>"
            + f"<predicate>{_xml_term(term.predicate)}</predicate>"
            + f"<object>{_xml_term(term.object)}</object></triple>"
        )
    raise TypeError(f"not an RDF term: {term!r}")


def _csv_term(term: object) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode | ox.Literal):
        return term.value
    if isinstance(term, ox.BlankNode):
        return "_:" + term.value
    return str(term)


# --- results -----------------------------------------------------------------------------------

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class SolutionWriter:
    """A SELECT result (variables without '?') in ``fmt``, piece by piece: :attr:`head`, then
    :meth:`row` for each solution in order, then :attr:`tail`; the pieces joined are the document.

    >>> w = SolutionWriter(["x"], SPARQL_JSON)
    >>> (w.head + w.row([ox.Literal("a")]) + w.row([None]) + w.tail).decode()
    '{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"literal","value":"a"}},{}]}}'
    """

    def __init__(self, variables: list[str], fmt: Format) -> None:
        self.variables, self.fmt, self._first = variables, fmt, True
        if fmt is SPARQL_JSON:
            self.head = ('{"head":{"vars":' + _JSON.encode(variables) + '},"results":{"bindings":[').encode()
            self.tail = b"]}}"
        elif fmt is SPARQL_XML:
            self.head = (
                '<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>'
                + "".join(f"<variable name={quoteattr(v)}/>" for v in variables)
                + "</head><results>"
            ).encode()
            self.tail = b"</results></sparql>"
        elif fmt is SPARQL_CSV:
            self._buffer = io.StringIO()
            self._csv = csv.writer(self._buffer, lineterminator="\r\n")
            self.head = self._csv_line(variables)
            self.tail = b""
        elif fmt is SPARQL_TSV:
            self.head = ("\t".join("?" + v for v in variables) + "\n").encode()
            self.tail = b""
        else:
            raise NotAcceptable(SOLUTION_FORMATS)

    def _csv_line(self, values: list[str]) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(values)
        return self._buffer.getvalue().encode()

    def row(self, row: list[object | None]) -> bytes:
        """One solution (terms, or None for unbound), with whatever separates it from the one before."""
        fmt = self.fmt
        if fmt is SPARQL_JSON:
            text = _JSON.encode(
                {v: _json_term(t) for v, t in zip(self.variables, row, strict=True) if t is not None}
            )
            if self._first:
                self._first = False
                return text.encode()
            return ("," + text).encode()
        if fmt is SPARQL_XML:
            return (
                "<result>"
                + "".join(
                    f"<binding name={quoteattr(v)}>{_xml_term(t)}</binding>"
                    for v, t in zip(self.variables, row, strict=True)
                    if t is not None
                )
                + "</result>"
            ).encode()
        if fmt is SPARQL_CSV:
            return self._csv_line([_csv_term(t) for t in row])
        return ("\t".join("" if t is None else str(t) for t in row) + "\n").encode()


def serialize_solutions(variables: list[str], rows: list[list[object | None]], fmt: Format) -> bytes:
    """A SELECT result (variables without '?', rows of terms or None for unbound)."""
    writer = SolutionWriter(variables, fmt)
    return b"".join([writer.head, *[writer.row(row) for row in rows], writer.tail])


def serialize_boolean(value: bool, fmt: Format) -> bytes:
    if fmt is SPARQL_JSON:
        return json.dumps({"head": {}, "boolean": value}).encode()
    if fmt is SPARQL_XML:
        return (
            '<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'
            f"<head/><boolean>{'true' if value else 'false'}</boolean></sparql>"
        ).encode()
    raise NotAcceptable(BOOLEAN_FORMATS)


def serialize_triples(
    triples: Iterable[ox.Triple], fmt: Format, prefixes: dict[str, str] | None = None
) -> bytes:
    rdf_format = _RDF_FORMAT[fmt.name]
    if rdf_format.supports_datasets:
        items: Iterable[ox.Triple] | Iterable[ox.Quad] = (
            ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in triples
        )
    else:
        items = triples
    kept = prefixes if prefixes and fmt.name in ("turtle", "trig", "rdfxml") else None
    return ox.serialize(items, format=rdf_format, prefixes=kept) or b""


def serialize_quads(quads: Iterable[ox.Quad], fmt: Format) -> bytes:
    return ox.serialize(quads, format=_RDF_FORMAT[fmt.name]) or b""


def rdf_format(fmt: Format) -> ox.RdfFormat:
    return _RDF_FORMAT[fmt.name]


def content_type(fmt: Format) -> str:
    text = fmt.media_type.startswith("text/") or fmt.name in (
        "json",
        "xml",
        "jsonld",
        "ntriples",
        "nquads",
        "trig",
        "rdfxml",
    )
    return f"{fmt.media_type}; charset=utf-8" if text else fmt.media_type
