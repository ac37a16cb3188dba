"""Accounts over HTTP: register, log in and out, API tokens.

Bodies may be JSON or form-encoded. Login sets an HttpOnly session cookie and a
script-readable CSRF cookie (see web/auth.py); programs use
``Authorization: Bearer <token>`` with a token from ``POST /auth/tokens``.

Logins and registrations are throttled (``resolvers/throttle.py``): a locked-out account or client address
gets 429 with ``Retry-After``. A login that is not JSON needs the login CSRF token (``web/auth.py``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from resolvers import accounts, sessions, throttle
from resolvers.errors import Unauthenticated, ValidationError


async def body(request: Request) -> dict[str, Any]:
    """The request's fields, from a JSON object or a form."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            data = await request.json()
        except ValueError as exc:
            raise ValidationError("body", f"not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValidationError("body", "expected a JSON object")
        return data
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def require_user(request: Request) -> accounts.User:
    user = request.state.user
    if user is None:
        raise Unauthenticated()
    return user


def user_json(user: accounts.User) -> dict[str, Any]:
    return {"name": user.name, "email": user.email, "roles": sorted(user.roles)}


def _field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationError(name, "is required")
    return value


def throttled(exc: throttle.Throttled) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.status, headers={"Retry-After": str(exc.retry_after)})


async def register(request: Request) -> JSONResponse:
    data = await body(request)
    try:
        user = await throttle.register(
            request.app.state.services,
            _field(data, "name"),
            _field(data, "email"),
            _field(data, "password"),
            throttle.client_address(request),
        )
    except throttle.Throttled as exc:
        return throttled(exc)
    return JSONResponse({"user": user_json(user)}, status_code=201)


async def login(request: Request) -> JSONResponse:
    data = await body(request)
    sessions.check_login_csrf(request, data.get("csrf_token"))
    try:
        user, session = await sessions.start_session(
            request.app.state.services, request, _field(data, "name"), _field(data, "password")
        )
    except throttle.Throttled as exc:
        return throttled(exc)
    response = JSONResponse({"user": user_json(user), "csrf_token": session.csrf_token})
    sessions.set_session_cookies(response, session, request)
    return response


async def logout(request: Request) -> Response:
    response = Response(status_code=204)
    await sessions.end_session(
        request.app.state.services, getattr(request.state, "session_token", None), response
    )
    return response


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"user": user_json(require_user(request))})


def token_json(token: accounts.ApiToken) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }
    if token.secret:
        out["token"] = token.secret
    return out


async def create_token(request: Request) -> JSONResponse:
    user = require_user(request)
    data = await body(request)
    token = await accounts.create_token(request.app.state.services.db, user, _field(data, "name"))
    return JSONResponse(token_json(token), status_code=201)


async def list_tokens(request: Request) -> JSONResponse:
    user = require_user(request)
    tokens = await accounts.list_tokens(request.app.state.services.db, user)
    return JSONResponse({"tokens": [token_json(t) for t in tokens]})


async def revoke_token(request: Request) -> Response:
    user = require_user(request)
    try:
        token_id = int(request.path_params["token_id"])
    except ValueError:
        raise ValidationError("token_id", "is not a number") from None
    revoked = await accounts.revoke_token(request.app.state.services.db, user, token_id)
    await sessions.announce_revoked(request.app.state.services, revoked)
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/auth/register", register, methods=["POST"]),
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
        Route("/auth/me", me, methods=["GET"]),
        Route("/auth/tokens", list_tokens, methods=["GET"]),
        Route("/auth/tokens", create_token, methods=["POST"]),
        Route("/auth/tokens/{token_id}", revoke_token, methods=["DELETE"]),
    ]
