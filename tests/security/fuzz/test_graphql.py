"""GraphQL fuzzing: schemathesis over every ``Query`` and ``Mutation`` field of the committed SDL,
anonymously and signed in; every answer is JSON in GraphQL's shape and no error is a masked internal one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import requests.adapters
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from tests.security.fuzz.harness import (
    FUZZ,
    MASKED,
    SDL,
    Caller,
    ServerLog,
    error_shape_problem,
    fresh_address,
)
from tests.security.fuzz.strategies import texts

# --- GraphQL (schemathesis) -------------------------------------------------------------------------

schemathesis.graphql.scalar(
    "Upload", st.one_of(st.just(nodes.Null), texts.map(nodes.String), st.integers().map(nodes.Int))
)
schemathesis.graphql.scalar(
    "DateTime", st.one_of(st.datetimes().map(lambda d: nodes.String(d.isoformat())), texts.map(nodes.String))
)


class SourceAddress(requests.adapters.HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


# Loaded from the committed SDL at import, so that each operation is a test item of its own
# (``schemathesis.pytest.from_fixture`` needs ``Node._nodeid``, which pytest 9.2 no longer has); the
# server's URL is given to each call.
graphql = schemathesis.graphql.from_path(SDL)


@pytest.fixture(scope="session")
def graphql_session() -> Iterator[requests.Session]:
    session = requests.Session()
    session.mount("http://", SourceAddress(fresh_address()))
    yield session
    session.close()


def graphql_call(
    case: Any, server: str, session: requests.Session, log: ServerLog, headers: dict[str, str]
) -> Any:
    session.cookies.clear()
    mark = log.mark()
    response = case.call(base_url=server + "graphql", session=session, headers=headers, timeout=60)
    request = f"request: POST /graphql\nbody: {json.dumps(case.as_transport_kwargs().get('json'))[:3000]}" + (
        "\n(with the Bearer token of a signed-in user)" if headers else "\n(anonymous)"
    )
    content = response.content
    problem = None
    if response.status_code >= 500:
        problem = f"answered {response.status_code}"
    else:
        try:
            body = json.loads(content)
        except ValueError:
            body = None
            problem = f"answered {response.status_code} with a body that is not JSON"
        if body is not None:
            problem = graphql_shape_problem(response.status_code, body)
    if problem:
        log.wait_for_errors(mark)
        raise AssertionError(
            f"{problem}\n{request}\nresponse: {content[:2000]!r}\nserver log:\n{log.since(mark)[-6000:]}"
        )
    return response


def graphql_shape_problem(status: int, body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if status >= 400 and "error" in body:  # refused before GraphQL ran (body limit, content type)
        return error_shape_problem(json.dumps(body).encode())
    if not set(body) <= {"data", "errors", "extensions"} or not ({"data", "errors"} & set(body)):
        return f"the body is not in GraphQL's shape (keys {sorted(body)})"
    errors = body.get("errors", [])
    if not isinstance(errors, list) or not all(
        isinstance(e, dict) and isinstance(e.get("message"), str) for e in errors
    ):
        return "'errors' is not a list of objects with a 'message'"
    masked = [e for e in errors if MASKED in e["message"]]
    if masked:
        return f"an internal error (GraphQL's 500): {masked}"
    return None


@graphql.parametrize()
@FUZZ
def test_graphql_anonymous(
    case: Any, server: str, graphql_session: requests.Session, server_log: ServerLog
) -> None:
    graphql_call(case, server, graphql_session, server_log, {})


@graphql.parametrize()
@FUZZ
def test_graphql_signed_in(
    case: Any,
    server: str,
    graphql_session: requests.Session,
    server_log: ServerLog,
    callers: dict[str, Caller],
) -> None:
    caller = callers["gql"]
    graphql_call(case, server, graphql_session, server_log, caller.headers())
    if case.operation.label.endswith("revokeToken") or case.operation.label.endswith("logout"):
        caller.refresh()
