"""The auth routes under random bodies (JSON, form, multipart, raw) and callers."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.security.fuzz.harness import REST, Api, Caller, ServerLog, seeded
from tests.security.fuzz.strategies import caller_headers, request_bodies, segments, texts, with_type

AUTH_FIELDS = ["name", "email", "password", "csrf_token"]


@st.composite
def registrations(draw: Any) -> dict[str, Any]:
    """Mostly well-formed registrations (so that the account code runs, not only the field checks)."""
    name = draw(
        st.one_of(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=30), texts)
    )
    return {
        "name": name,
        "email": draw(st.one_of(st.emails(), texts)),
        "password": draw(st.one_of(st.text(min_size=10, max_size=80), texts)),
    }


@seeded
@REST
@given(data=st.data())
def test_auth_routes(api: Api, callers: dict[str, Caller], quiet_log: ServerLog, data: st.DataObject) -> None:
    method, path = data.draw(
        st.sampled_from(
            [
                ("POST", "/auth/register"),
                ("POST", "/auth/register"),
                ("POST", "/auth/login"),
                ("POST", "/auth/login"),
                ("POST", "/auth/logout"),
                ("GET", "/auth/me"),
                ("GET", "/auth/tokens"),
                ("POST", "/auth/tokens"),
                ("DELETE", "/auth/tokens/{id}"),
            ]
        ),
        label="route",
    )
    if "{id}" in path:
        path = path.format(
            id=data.draw(st.one_of(st.integers(-(2**70), 2**70).map(str), segments), label="token id")
        )
    headers = data.draw(caller_headers(callers), label="caller")
    if path == "/auth/register" and data.draw(st.booleans(), label="well-formed"):
        body, content_type = (
            json.dumps(data.draw(registrations(), label="registration")).encode(),
            "application/json",
        )
    elif path in ("/auth/login", "/auth/tokens") and data.draw(st.booleans(), label="well-formed"):
        fields = {
            "name": data.draw(texts, label="name"),
            "password": data.draw(st.text(min_size=1), label="password"),
        }
        body, content_type = json.dumps(fields).encode(), "application/json"
    else:
        body, content_type = data.draw(request_bodies(AUTH_FIELDS), label="body")
    client = api.auth_client() if path in ("/auth/register", "/auth/login") else None
    api.send(method, path, client=client, content=body, headers=with_type(headers, content_type))
    if method == "DELETE" or path == "/auth/logout":
        for caller in callers.values():
            caller.refresh()
