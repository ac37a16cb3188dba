"""The SPARQL protocol (random queries and updates), the Graph Store and the linked-data URIs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from tests.security.fuzz.harness import KINDS, REST, Api, Caller, Corpus, ServerLog, seeded
from tests.security.fuzz.strategies import (
    accepts,
    byte_bodies,
    caller_headers,
    content_types,
    form_encode,
    formats_,
    multipart_bodies,
    segments,
    texts,
    with_type,
)

# SPARQL: queries built from pieces of the grammar (with random holes), random text and truncations. Each
# query has at most one unconstrained triple pattern (the store holds the ontologies), so that none runs into
# its deadline.


def sparql_iris(corpus_uri: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                corpus_uri,
                "http://example.org/a",
                "urn:weblab-fuzz:g",
                "",
                "http://127.0.0.1:1/",
                "file:///etc/passwd",
                "javascript:alert(1)",
                "http://[::1]/",
                "a b",
                "x>",
                "http://a/%zz",
                "https://w3id.org/weblab/ns#Model",
                "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
                "http://purl.org/dc/terms/title",
            ]
        ),
        texts,
    )


@st.composite
def sparql_queries(draw: Any, corpus_uri: str) -> str:
    iri = draw(sparql_iris(corpus_uri)).replace(">", "%3E")
    lit = json.dumps(draw(texts))
    term = st.sampled_from(
        [
            f"<{iri}>",
            lit,
            f"{lit}@en",
            f"{lit}@{draw(texts)}",
            "1",
            "-0",
            "1.5e308",
            "1e999",
            "true",
            "[]",
            "_:b",
            "()",
            f"{lit}^^<http://www.w3.org/2001/XMLSchema#integer>",
            f"{lit}^^<http://www.w3.org/2001/XMLSchema#dateTime>",
            "?o",
            "?x",
            "x:y",
            "<>",
        ]
    )
    number = str(draw(st.one_of(st.integers(-10, 100), st.integers(-(10**30), 10**30))))
    expr = draw(
        st.sampled_from(
            [
                f"REGEX(STR(?o), {lit})",
                f"REGEX(STR(?o), {lit}, {json.dumps(draw(texts))})",
                f"REPLACE(STR(?o), {lit}, {lit})",
                f"SUBSTR(STR(?o), {number}, {number})",
                "STRLEN(STR(?o)) > 3",
                f"xsd:integer({lit})",
                "1/0",
                "?o + 1",
                f"LANGMATCHES(LANG(?o), {lit})",
                f"CONCAT(STR(?o), {lit})",
                f"ENCODE_FOR_URI({lit})",
                f"IRI({lit})",
                "BNODE()",
                "UUID()",
                "NOW()",
                "RAND()",
                f"COALESCE(?x, {lit})",
                "IF(?o, 1, 0)",
                "isIRI(?s)",
                f"STRDT({lit}, <{iri}>)",
                f"STRLANG({lit}, {lit})",
                "ABS(?o)",
                "ROUND(?o)",
                "YEAR(?o)",
                "TZ(NOW())",
                f"SHA512({lit})",
                "MD5(STR(?s))",
                f"EXISTS {{ <{iri}> ?p ?o }}",
                f"?o IN ({lit}, 1)",
                f"{lit} NOT IN (?o)",
                f"STRSTARTS(STR(?s), {lit})",
                f"<{iri}>(?o)",
                "COUNT(*)",
                "?undefined",
                f"DATATYPE({lit})",
                f"SUBSTR({lit}, 1, 99999999999)",
                f"STRBEFORE({lit}, {lit})",
                "LCASE(?o)",
                f"CONTAINS(STR(?o), {lit})",
            ]
        )
    )
    t = draw(term)
    fixed = f"<{iri}>"
    pattern = draw(
        st.sampled_from(
            [
                f"{fixed} ?p ?o .",
                f"?s <{iri}> {t} .",
                f"{fixed} ?p {t} .",
                f"?s ?p ?o . FILTER({expr})",
                f"{fixed} ?p ?o . FILTER({expr})",
                f"{fixed} ?p ?o . BIND({expr} AS ?v)",
                f"VALUES ?o {{ {t} {t} }}",
                f"GRAPH ?g {{ {fixed} ?p ?o }}",
                f"OPTIONAL {{ {fixed} ?p ?o }}",
                f"{{ {fixed} ?p ?o }} UNION {{ ?s ?p {t} }}",
                f"SERVICE <{iri}> {{ ?s ?p ?o }}",
                f"SERVICE SILENT <{iri}> {{ ?s ?p ?o }}",
                f"{fixed} ?p ?o MINUS {{ ?s ?p {t} }}",
                f"{fixed} <{iri}>* ?o",
                f"{fixed} (<{iri}>|^<{iri}>)+ ?o",
                f"{fixed} !(<{iri}>) ?o",
                f"{fixed} ?p ?o . {{ SELECT ?o WHERE {{ ?s <{iri}> ?o }} LIMIT 3 }}",
                f"?s ?p {t} . FILTER NOT EXISTS {{ ?s ?p ?o }}",
                f"?s a <{iri}> .",
                "?s ?p ?o .",
                f"{fixed} ?p ?o . {fixed} ?q ?r .",
            ]
        )
    )
    prologue = draw(
        st.sampled_from(
            [
                "",
                f"PREFIX x: <{iri}>\n",
                f"BASE <{iri}>\n",
                "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n",
                "PREFIX : <>\n",
            ]
        )
    )
    modifiers = "".join(
        draw(
            st.lists(
                st.sampled_from(
                    [
                        " ORDER BY ?o",
                        " ORDER BY DESC(?o)",
                        f" LIMIT {number}",
                        f" OFFSET {number}",
                        " GROUP BY ?s",
                        f" HAVING({expr})",
                        " LIMIT 5",
                    ]
                ),
                max_size=3,
                unique=True,
            )
        )
    )
    dataset = draw(st.sampled_from(["", f" FROM <{iri}>", f" FROM NAMED <{iri}>"]))
    query = draw(
        st.sampled_from(
            [
                f"SELECT * {dataset} WHERE {{ {pattern} }}{modifiers}",
                f"SELECT DISTINCT ?s ?o WHERE {{ {pattern} }}{modifiers}",
                f"SELECT (COUNT(*) AS ?n) (SAMPLE(?o) AS ?x) WHERE {{ {pattern} }}",
                f"SELECT ({expr} AS ?e) WHERE {{ {pattern} }} LIMIT 3",
                f"ASK {dataset} {{ {pattern} }}",
                f"CONSTRUCT {{ ?s ?p {t} }} WHERE {{ {pattern} }} LIMIT 10",
                f"CONSTRUCT WHERE {{ {fixed} ?p ?o }}",
                f"DESCRIBE <{iri}>",
                f"DESCRIBE ?s WHERE {{ {pattern} }} LIMIT 2",
                f"SELECT * WHERE {{ {pattern} }}{modifiers}",
            ]
        )
    )
    query = prologue + query
    mangle = draw(st.sampled_from(["none", "none", "none", "truncate", "garbage", "text"]))
    if mangle == "truncate" and query:
        query = query[: draw(st.integers(0, len(query) - 1))]
    elif mangle == "garbage":
        at = draw(st.integers(0, len(query)))
        query = query[:at] + draw(texts) + query[at:]
    elif mangle == "text":
        query = draw(texts)
    return query


FUZZ_GRAPH = "urn:weblab-fuzz:"


@st.composite
def sparql_updates(draw: Any, *, safe: bool) -> str:
    """Updates; ``safe`` ones (for an admin) write only to graphs of the fuzzer's own, never the default one."""
    g = f"<{FUZZ_GRAPH}{draw(st.text(alphabet='abcdefghij', max_size=8))}>"
    g2 = f"<{FUZZ_GRAPH}{draw(st.text(alphabet='abcdefghij', max_size=8))}>"
    lit = json.dumps(draw(texts))
    triple = draw(
        st.sampled_from(
            [
                f"<urn:a> <urn:b> {lit} .",
                f"<urn:a> <urn:b> {lit}@en .",
                "_:b <urn:b> _:c .",
                '<urn:a> <urn:b> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .',
                f"<urn:a> <urn:b> {lit}^^<http://www.w3.org/2001/XMLSchema#boolean> .",
            ]
        )
    )
    updates = [
        f"INSERT DATA {{ GRAPH {g} {{ {triple} }} }}",
        f"DELETE DATA {{ GRAPH {g} {{ {triple} }} }}",
        f"DELETE WHERE {{ GRAPH {g} {{ ?s ?p ?o }} }}",
        f"CLEAR GRAPH {g}",
        f"CLEAR SILENT GRAPH {g}",
        f"DROP SILENT GRAPH {g}",
        f"DROP GRAPH {g}",
        f"CREATE GRAPH {g}",
        f"CREATE SILENT GRAPH {g}",
        f"LOAD <http://127.0.0.1:1/x.ttl> INTO GRAPH {g}",
        f"LOAD SILENT <file:///etc/passwd> INTO GRAPH {g}",
        f"LOAD <{draw(texts)}> INTO GRAPH {g}",
        f"WITH {g} DELETE {{ ?s ?p ?o }} INSERT {{ ?s ?p {lit} }} WHERE {{ ?s ?p ?o }}",
        f"COPY {g} TO {g2}",
        f"MOVE SILENT {g} TO {g2}",
        f"ADD {g} TO {g2}",
        f"INSERT {{ GRAPH {g} {{ ?s <urn:b> ?o }} }} WHERE {{ <urn:a> ?p ?o BIND(<urn:a> AS ?s) }}",
        f"INSERT DATA {{ GRAPH {g} {{ {triple} }} }} ; CLEAR SILENT GRAPH {g}",
    ]
    if not safe:  # for callers who may not update at all: these must be refused, never run
        updates += [
            "CLEAR ALL",
            "DROP ALL",
            "CLEAR DEFAULT",
            "DROP NAMED",
            f"INSERT DATA {{ {triple} }}",
            "DELETE WHERE { ?s ?p ?o }",
            f"COPY DEFAULT TO {g}",
            f"MOVE {g} TO DEFAULT",
        ]
    update = draw(st.sampled_from(updates))
    mangle = draw(st.sampled_from(["none", "none", "truncate", "text"]))
    if mangle == "truncate" and update:
        cut = draw(st.integers(0, len(update) - 1))
        update = update[:cut]
        if safe and "GRAPH" not in update and "INSERT" in update.upper():
            update = "INSERT"  # a cut that leaves an INSERT DATA on the default graph is not sent by an admin
    elif mangle == "text":
        update = draw(st.sampled_from(["", " ", "INSERT", "DELETE", "LOAD", "SELECT * WHERE { ?s ?p ?o }"]))
    return update


@seeded
@REST
@given(data=st.data())
def test_sparql_protocol(
    api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog, data: st.DataObject
) -> None:
    who = data.draw(st.sampled_from(["anonymous", "user", "admin", "other"]), label="caller")
    headers = (
        {}
        if who == "anonymous"
        else (callers[who].headers() if who in callers else data.draw(caller_headers(callers, admin=False)))
    )
    safe = who == "admin"
    query = data.draw(sparql_queries(corpus.model_version), label="query")
    update = data.draw(sparql_updates(safe=safe), label="update")
    op = data.draw(
        st.sampled_from(["query", "query", "query", "update", "both", "neither"]), label="operation"
    )
    params: list[tuple[str, str]] = []
    if op in ("query", "both"):
        params.append(("query", query))
    if op in ("update", "both"):
        params.append(("update", update))
    for name in data.draw(
        st.lists(
            st.sampled_from(
                [
                    "format",
                    "default-graph-uri",
                    "named-graph-uri",
                    "using-graph-uri",
                    "using-named-graph-uri",
                    "query",
                    "x",
                ]
            ),
            max_size=3,
        ),
        label="parameters",
    ):
        if name == "query" and op in ("update", "both"):
            continue  # a second operation parameter is refused anyway; keeps an admin's update alone
        value = (
            data.draw(formats_ if name == "format" else sparql_iris(corpus.model_version), label=name) or ""
        )
        params.append((name, value))
    accept = data.draw(accepts, label="accept")
    if accept is not None:
        headers = {**headers, "Accept": accept}
    shape = data.draw(st.sampled_from(["get", "get", "head", "form", "form", "direct", "raw"]), label="shape")
    if shape in ("get", "head"):
        api.send(shape.upper(), "/sparql?" + form_encode(params).decode(), headers=headers)
        return
    if shape == "form":
        charset = data.draw(
            st.sampled_from(["", "; charset=utf-8", "; charset=UTF-8", "; charset=iso-8859-1"])
        )
        api.send(
            "POST",
            "/sparql",
            content=form_encode(params),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded" + charset},
        )
        return
    if shape == "direct":
        media = "application/sparql-update" if op == "update" else "application/sparql-query"
        text = update if op == "update" else query
        url_params = [p for p in params if p[0] not in ("query", "update")]
        api.send(
            "POST",
            "/sparql?" + form_encode(url_params).decode(),
            content=text.encode("utf-8", "surrogatepass"),
            headers={
                **headers,
                "Content-Type": media
                + data.draw(st.sampled_from(["", "; charset=utf-8", "; charset=utf-16"])),
            },
        )
        return
    body = data.draw(byte_bodies, label="raw body")
    content_type = data.draw(content_types, label="content type")
    if safe and "update" in content_type:
        content_type = "text/plain"  # random bytes as an admin's update: kept away from the store
    api.send("POST", "/sparql", content=body, headers=with_type(headers, content_type))


RDF_BODIES = [
    b'<urn:a> <urn:b> "x" .\n',
    b"<urn:a> <urn:b> <urn:c> <urn:g> .\n",
    b"@prefix : <urn:> . :a :b :c, :d ; :e [] .",
    b"<urn:a> <urn:b> ",
    b"@base <http://127.0.0.1:1/> . <a> <b> <c> .",
    b'<urn:a> <urn:b> "x"@' + b"e" * 300 + b" .",
    b"GRAPH <urn:g> { <urn:a> <urn:b> <urn:c> }",
    b'{"@id": "urn:a", "urn:b": "x"}',
    b'{"@context": "http://127.0.0.1:1/ctx.jsonld", "@id": "urn:a", "b": "x"}',
    b'{"@context": "file:///etc/passwd", "@id": "urn:a"}',
    b'{"@graph": [' * 50 + b"]" * 50 + b"}",
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="urn:a">'
    b'<rdf:value xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">&e;</rdf:value></rdf:Description></rdf:RDF>',
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="urn:a"/>'
    b"</rdf:RDF>",
    b"",
    b"\xff\xfe",
    b"<< <urn:a> <urn:b> <urn:c> >> <urn:d> <urn:e> .",
]
RDF_TYPES = [
    "text/turtle",
    "application/n-triples",
    "application/n-quads",
    "application/trig",
    "application/ld+json",
    "application/rdf+xml",
    "text/n3",
    "application/json",
    "text/plain",
    "application/x-turtle",
]


@seeded
@REST
@given(data=st.data())
def test_graph_store(api: Api, callers: dict[str, Caller], quiet_log: ServerLog, data: st.DataObject) -> None:
    who = data.draw(st.sampled_from(["anonymous", "user", "admin", "admin", "other"]), label="caller")
    headers = (
        {}
        if who == "anonymous"
        else (callers[who].headers() if who in callers else data.draw(caller_headers(callers, admin=False)))
    )
    method = data.draw(st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"]), label="method")
    own = FUZZ_GRAPH + data.draw(st.text(alphabet="abcdefghij", max_size=8))
    random_iri = data.draw(
        st.one_of(
            st.sampled_from(
                [
                    "http://example.org/g",
                    "urn:x",
                    "a b",
                    "<urn:x>",
                    "relative",
                    "http://[::1",
                    "urn:weblab:platform",
                    "",
                ]
            ),
            texts,
        )
    )
    targets = [
        f"/sparql/graphs?graph={quote(own, safe='')}",
        f"/sparql/graphs/fuzz-{quote(own[-8:] or 'x')}",
        "/sparql/graphs",
        f"/sparql/graphs?graph={quote(random_iri, safe='')}&graph=urn:y",
    ]
    if who != "admin" or method in ("GET", "HEAD"):
        targets += [
            "/sparql/graphs?default",
            f"/sparql/graphs?graph={quote(random_iri, safe='')}",
            f"/sparql/graphs?graph={quote(random_iri, safe='')}&default",
            "/sparql/graphs/"
            + "/".join(quote(t, safe="") or "x" for t in data.draw(st.lists(texts, min_size=1, max_size=3))),
        ]
    target = data.draw(st.sampled_from(targets), label="target")
    fmt = data.draw(formats_, label="format")
    if fmt is not None and method in ("GET", "HEAD"):
        target += ("&" if "?" in target else "?") + "format=" + quote(fmt, safe="")
    accept = data.draw(accepts, label="accept")
    if accept is not None:
        headers = {**headers, "Accept": accept}
    body: bytes | None = None
    content_type: str | None = None
    if method in ("PUT", "POST"):
        if data.draw(st.integers(0, 3), label="multipart?") == 0:
            body, content_type = data.draw(
                multipart_bodies(
                    fields=["graph", "x"], file_field="file", contents=st.sampled_from(RDF_BODIES)
                )
            )
        else:
            body = data.draw(st.one_of(st.sampled_from(RDF_BODIES), byte_bodies), label="body")
            content_type = data.draw(
                st.one_of(st.sampled_from(RDF_TYPES), content_types, st.none()), label="content type"
            )
    api.send(method, target, content=body, headers=with_type(headers, content_type))


@seeded
@REST
@given(data=st.data())
def test_linked_data(
    api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog, data: st.DataObject
) -> None:
    seg = segments
    path = data.draw(
        st.one_of(
            st.sampled_from(
                [
                    f"/models/{corpus.model_id}",
                    f"/models/{corpus.model_id}/versions/{corpus.model_sha}",
                    f"/protocols/{corpus.protocol_id}",
                    f"/users/{corpus.user_name}",
                    "/.well-known/void",
                    "/ns/context.jsonld",
                    "/dump/public.nq.gz",
                    "/sparql",
                    "/healthz",
                ]
                + ([f"/runs/{corpus.run_id}"] if corpus.run_id else [])
            ),
            st.tuples(st.sampled_from(KINDS), seg).map(lambda t: f"/{t[0]}/{t[1]}"),
            st.tuples(st.sampled_from(KINDS), seg, seg).map(lambda t: f"/{t[0]}/{t[1]}/versions/{t[2]}"),
            st.tuples(st.sampled_from(["experiments", "runs", "users"]), seg).map(
                lambda t: f"/{t[0]}/{t[1]}"
            ),
        ),
        label="path",
    )
    fmt = data.draw(formats_, label="format")
    if fmt is not None:
        path += "?format=" + quote(fmt, safe="")
    headers = data.draw(caller_headers(callers), label="caller")
    accept = data.draw(accepts, label="accept")
    if accept is not None:
        headers = {**headers, "Accept": accept}
    method = data.draw(st.sampled_from(["GET", "GET", "HEAD"]), label="method")
    if path.startswith("/dump") or path.startswith("/healthz"):
        method = "GET"
    api.send(method, path, headers=headers)
