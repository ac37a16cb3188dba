"""The web pages, and a catch-all of random methods and headers on every route."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.security.fuzz.harness import KINDS, REST, Api, Caller, Corpus, ServerLog, raw_send, seeded
from tests.security.fuzz.strategies import (
    TRAVERSALS,
    accepts,
    byte_bodies,
    caller_headers,
    form_encode,
    header_text,
    media_types,
    raw_piece,
    segments,
    texts,
)

PAGES = [
    "/",
    "/models",
    "/protocols",
    "/datasets",
    "/experiments",
    "/compare",
    "/upload",
    "/login",
    "/register",
    "/account",
    "/moderation",
    "/graphql",
]


@seeded
@REST
@given(data=st.data())
def test_pages(
    api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog, data: st.DataObject
) -> None:
    piece = st.one_of(st.sampled_from(TRAVERSALS), texts).map(raw_piece)
    path = data.draw(
        st.one_of(
            st.sampled_from(PAGES),
            st.sampled_from(
                [
                    f"/view/models/{corpus.model_id}",
                    f"/view/models/{corpus.model_id}/versions/v1",
                    f"/view/protocols/{corpus.protocol_id}/versions/{corpus.protocol_sha}",
                ]
                + ([f"/view/runs/{corpus.run_id}"] if corpus.run_id else [])
            ),
            st.tuples(st.sampled_from(["runs", "experiments"]), piece).map(lambda t: f"/view/{t[0]}/{t[1]}"),
            st.tuples(piece, piece).map(lambda t: f"/view/{t[0]}/{t[1]}"),
            st.tuples(piece, piece, piece).map(lambda t: f"/view/{t[0]}/{t[1]}/versions/{t[2]}"),
            st.tuples(
                st.sampled_from(["/static/", "/static/vendor/yasgui/", "/static/vendor/graphiql/"]), piece
            ).map("".join),
        ),
        label="path",
    )
    query = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(["models", "protocols", "runs", "next", "q", "owner", "kind", "page", "x"]),
                texts,
            ),
            max_size=3,
        ),
        label="query",
    )
    if query:
        path += "?" + form_encode(query).decode()
    headers = data.draw(caller_headers(callers), label="caller")
    accept = data.draw(st.one_of(st.just("text/html"), accepts), label="accept")
    if accept is not None:
        headers = {**headers, "Accept": accept}
    raw_send(api, "GET", path, headers, page=True)


ROUTES = [
    "/healthz",
    "/auth/register",
    "/auth/login",
    "/auth/logout",
    "/auth/me",
    "/auth/tokens",
    "/auth/tokens/{x}",
    "/graphql",
    "/{kind}",
    "/{kind}/{x}",
    "/{kind}/{x}/versions",
    "/{kind}/{x}/versions/{x}",
    "/{kind}/{x}/versions/{x}/files/{x}",
    "/{kind}/{x}/versions/{x}/archive",
    "/{kind}/{x}/diff",
    "/sparql",
    "/sparql/graphs",
    "/sparql/graphs/{x}",
    "/.well-known/void",
    "/ns/context.jsonld",
    "/dump/public.nq.gz",
    "/runs",
    "/runs/{x}",
    "/runs/{x}/status",
    "/runs/{x}/cancel",
    "/runs/{x}/archive",
    "/experiments/{x}",
    "/users/{x}",
    "/runner/runs/{x}/claim",
    "/runner/runs/{x}/progress",
    "/runner/runs/{x}/release",
    "/runner/runs/{x}/result",
    "/runner/archives/{x}",
    "/metrics",
    "/operator",
    "/operator/users",
    "/operator/import",
    "/operator/run-all",
    "/nothing/here",
    "/{x}",
]


@seeded
@REST
@given(data=st.data())
def test_any_route_any_method(
    api: Api, callers: dict[str, Caller], quiet_log: ServerLog, data: st.DataObject
) -> None:
    route = data.draw(st.sampled_from(ROUTES), label="route")
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    path = route.replace("{kind}", kind)
    while "{x}" in path:
        path = path.replace("{x}", data.draw(segments), 1)
    method = data.draw(
        st.sampled_from(
            ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "HEAD", "PROPFIND", "QUERY"]
        ),
        label="method",
    )
    if method not in ("GET", "HEAD", "OPTIONS", "TRACE", "DELETE") and path.startswith("/sparql"):
        method = "PATCH"  # writes with random bodies go through test_graph_store/test_sparql_protocol's rules
    headers = data.draw(caller_headers(callers, admin=False), label="caller")
    for name in data.draw(
        st.lists(
            st.sampled_from(
                [
                    "Accept",
                    "Content-Type",
                    "Content-Encoding",
                    "Range",
                    "If-None-Match",
                    "If-Modified-Since",
                    "X-Request-ID",
                    "Origin",
                    "Accept-Language",
                    "X-CSRF-Token",
                    "Cookie",
                    "Expect",
                ]
            ),
            unique=True,
            max_size=4,
        ),
        label="headers",
    ):
        headers[name] = data.draw(st.one_of(header_text, media_types), label=name)
    if headers.get("Expect"):
        headers["Expect"] = "x"  # 100-continue would wait for the server's go-ahead
    body = data.draw(st.one_of(st.none(), byte_bodies), label="body")
    page = path.split("?")[0].rstrip("/") in {"", "/graphql"}
    api.send(method, path, content=body, headers=headers, api=not page)
