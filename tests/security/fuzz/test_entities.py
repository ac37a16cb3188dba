"""Entity uploads (hand-built multipart, zip archives) and downloads (random ids, refs and paths,
traversal attempts sent as literal ``..``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.security.fuzz.harness import KINDS, REST, Api, Caller, Corpus, ServerLog, raw_send, seeded
from tests.security.fuzz.strategies import (
    TRAVERSALS,
    caller_headers,
    form_encode,
    multipart_bodies,
    raw_piece,
    request_bodies,
    segments,
    texts,
    with_type,
)

UPLOAD_FIELDS = ["name", "message", "visibility", "tag", "main", "protocol", "inherit"]


@seeded
@REST
@given(data=st.data())
def test_entity_uploads(
    api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog, data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    path = data.draw(
        st.sampled_from(
            [
                f"/{kind}",
                f"/{kind}",
                f"/models/{corpus.model_id}/versions",
                f"/protocols/{corpus.protocol_id}/versions",
                f"/{kind}/{{id}}/versions",
                f"/{kind}/",
            ]
        ),
        label="path",
    )
    if "{id}" in path:
        path = path.format(id=data.draw(segments, label="id"))
    headers = data.draw(
        st.one_of(st.just(callers["user"].headers()), caller_headers(callers)), label="caller"
    )
    if data.draw(st.integers(0, 4), label="shape") > 0:
        body, content_type = data.draw(multipart_bodies(fields=UPLOAD_FIELDS), label="multipart")
    else:
        body, content_type = data.draw(request_bodies(UPLOAD_FIELDS), label="body")
    api.send("POST", path, content=body, headers=with_type(headers, content_type))


@seeded
@REST
@given(data=st.data())
def test_entity_downloads(
    api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog, data: st.DataObject
) -> None:
    kind, entity = data.draw(
        st.one_of(
            st.just(("models", corpus.model_id)),
            st.just(("protocols", corpus.protocol_id)),
            st.tuples(st.sampled_from(KINDS), st.one_of(st.sampled_from(TRAVERSALS), texts).map(raw_piece)),
        ),
        label="entity",
    )
    ref = data.draw(
        st.one_of(
            st.sampled_from(
                [
                    "latest",
                    corpus.model_sha,
                    corpus.model_sha[:7],
                    corpus.protocol_sha,
                    "v1",
                    "HEAD",
                    "HEAD~1",
                    "HEAD^",
                    "@{0}",
                    "master",
                    "refs/heads/master",
                    "-",
                    "..",
                    "%00",
                    "0" * 40,
                    "f" * 64,
                    corpus.model_sha[:1],
                ]
            ),
            texts.map(raw_piece),
        ),
        label="ref",
    )
    tail = data.draw(
        st.one_of(
            st.just(f"files/{corpus.model_main}"),
            st.sampled_from(TRAVERSALS).map(lambda p: "files/" + p),
            st.lists(texts.map(raw_piece), min_size=1, max_size=4).map(
                lambda parts: "files/" + "/".join(parts)
            ),
            st.just("archive"),
        ),
        label="tail",
    )
    target = f"/{kind}/{entity}/versions/{ref}/{tail}"
    if data.draw(st.integers(0, 5), label="diff?") == 0:
        query = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["from", "to", "x"]),
                    st.one_of(st.sampled_from(["latest", corpus.model_sha, "v1"]), texts),
                ),
                max_size=3,
            ),
            label="diff",
        )
        target = f"/{kind}/{entity}/diff?" + form_encode(query).decode()
    headers = data.draw(caller_headers(callers), label="caller")
    method = data.draw(st.sampled_from(["GET", "GET", "HEAD"]), label="method")
    raw_send(api, method, target, headers)
