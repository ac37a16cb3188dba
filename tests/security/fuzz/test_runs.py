"""``/runs`` with random ids and bodies, and the runner contract with random (and validly signed but
nonsensical) tokens and callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.security.fuzz.harness import REST, SECRET, Api, Caller, Corpus, ServerLog, seeded
from tests.security.fuzz.strategies import (
    byte_bodies,
    caller_headers,
    form_encode,
    header_text,
    json_values,
    request_bodies,
    segment,
    segments,
    texts,
    with_type,
    zip_archives,
)


@seeded
@REST
@given(data=st.data())
def test_runs(
    api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog, data: st.DataObject
) -> None:
    run_id = data.draw(
        st.one_of(st.just(corpus.run_id or "x"), st.uuids().map(str), segments), label="run id"
    )
    route = data.draw(st.sampled_from(["create", "create", "status", "cancel", "archive"]), label="route")
    headers = data.draw(
        st.one_of(st.just(callers["user"].headers()), caller_headers(callers)), label="caller"
    )
    if route != "create":
        method = "POST" if route == "cancel" else "GET"
        api.send(method, f"/runs/{run_id}/{route}", headers=headers)
        return
    versions = st.one_of(
        st.sampled_from(
            [
                corpus.model_version,
                corpus.protocol_version,
                corpus.model_version.rsplit("/versions/", 1)[0],
                corpus.model_version + "x",
                corpus.model_version.replace(corpus.model_sha, corpus.model_sha[:7]),
                corpus.protocol_version.replace("/protocols/", "/datasets/"),
                "urn:x",
                "",
            ]
        ),
        texts,
        json_values,
    )
    if data.draw(st.integers(0, 3), label="shape") > 0:
        fields = data.draw(
            st.dictionaries(
                st.sampled_from(["model", "protocol", "model_version", "protocol_version", "queue"]),
                versions,
                max_size=4,
            )
        )
        body, content_type = json.dumps(fields).encode(), "application/json"
    else:
        body, content_type = data.draw(request_bodies(["model", "protocol"]), label="body")
    api.send("POST", "/runs", content=body, headers=with_type(headers, content_type))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_token(purpose: str, payload: dict[str, Any], expiry: int) -> str:
    """A token as ``resolvers.tokens.make_token`` makes it with the test server's key (any payload)."""
    body = json.dumps(
        {"p": purpose, "d": payload, "e": expiry}, separators=(",", ":"), sort_keys=True
    ).encode()
    mac = hmac.new(SECRET.encode(), purpose.encode() + b"\0" + body, hashlib.sha256).digest()
    return _b64(body) + "." + _b64(mac)


def signature(method: str, path: str, body: bytes, when: int) -> str:
    digest = hashlib.sha256(body).hexdigest()
    mac = hmac.new(
        SECRET.encode(), "\n".join([method, path, str(when), digest]).encode(), hashlib.sha256
    ).hexdigest()
    return f"t={when},v1={mac}"


@seeded
@REST
@given(data=st.data())
def test_runner_contract(api: Api, corpus: Corpus, quiet_log: ServerLog, data: st.DataObject) -> None:
    now = int(time.time())
    if data.draw(st.integers(0, 2), label="archive?") == 0:
        token = data.draw(
            st.one_of(
                texts.map(segment),
                st.tuples(st.binary(max_size=60), st.binary(max_size=40)).map(
                    lambda t: _b64(t[0]) + "." + _b64(t[1])
                ),
                st.builds(
                    signed_token,
                    st.sampled_from(["run-archive", "other", ""]),
                    st.dictionaries(
                        st.sampled_from(["r", "v", "c", "x"]),
                        st.one_of(
                            st.sampled_from([corpus.run_id or "", corpus.model_version, "0" * 32]),
                            json_values,
                        ),
                        max_size=4,
                    ),
                    st.sampled_from([now + 600, now - 10, 0, 2**62]),
                ),
            ),
            label="token",
        )
        api.send("GET", f"/runner/archives/{token}")
        return
    run_id = data.draw(
        st.one_of(st.just(corpus.run_id or "x"), st.uuids().map(str), segments), label="run id"
    )
    action = data.draw(st.sampled_from(["claim", "progress", "release", "result"]), label="action")
    path = f"/runner/runs/{run_id}/{action}"
    if action == "result":
        query = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["claim", "status", "engine", "missing"]),
                    st.one_of(
                        st.sampled_from(["SUCCESS", "FAILED", "PARTIAL", "INAPPLICABLE", "RUNNING", "x"]),
                        texts,
                    ),
                ),
                max_size=4,
            ),
            label="query",
        )
        if query:
            path += "?" + form_encode(query).decode()
        body = data.draw(st.one_of(zip_archives(), byte_bodies), label="archive")
    else:
        fields = data.draw(
            st.dictionaries(
                st.sampled_from(["claim", "worker", "done", "total", "reason"]),
                st.one_of(texts, json_values),
                max_size=5,
            ),
            label="fields",
        )
        body = data.draw(st.one_of(st.just(json.dumps(fields).encode()), byte_bodies), label="body")
    how = data.draw(
        st.sampled_from(["signed", "signed", "stale", "none", "random", "malformed"]), label="signature"
    )
    headers: dict[str, str] = {}
    if how == "signed":
        headers["X-Weblab-Signature"] = signature("POST", path, body, now)
    elif how == "stale":
        headers["X-Weblab-Signature"] = signature("POST", path, body, now - 10_000)
    elif how == "random":
        headers["X-Weblab-Signature"] = (
            f"t={data.draw(st.integers())},v1={data.draw(st.text('0123456789abcdef'))}"
        )
    elif how == "malformed":
        headers["X-Weblab-Signature"] = data.draw(header_text)
    api.send("POST", path, content=body, headers=headers)
