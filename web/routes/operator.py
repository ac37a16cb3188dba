"""The operator API: what ``weblab user add``, ``import`` and ``run-all`` hand to a running server.

::

    GET  /operator             200 when the key is right: the command's check that this server wrote the file
    POST /operator/users       {"name", "email", "password", "roles": [...]} → the user
    POST /operator/import      {"paths": [absolute paths on this machine], "owner", "kind", "visibility"}
                               → {"imported", "unchanged", "failed": [[path, reason], ...]}
    POST /operator/run-all     {"recover": bool} → {"recovery": {...} or null, "queued": {...}}

Every request carries ``Authorization: Operator <key>``, the key the server wrote to
``DATA_DIR/operator.json`` at start (``web/operator.py``), compared in constant time: no key is 401,
a wrong one 403. The key stands for whoever may read the data directory, who could open the store
and the database anyway; it is not an account, and the API does nothing a local operator cannot.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from resolvers.errors import Forbidden, Unauthenticated, ValidationError
from web import operator


def _check_key(request: Request) -> None:
    expected: str | None = getattr(request.app.state, "operator_key", None)
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != operator.SCHEME.lower() or not key.strip():
        raise Unauthenticated(
            f"send `Authorization: {operator.SCHEME} <key>` with the key from the data directory's "
            f"{operator.FILE_NAME}"
        )
    if expected is None or not hmac.compare_digest(key.strip().encode(), expected.encode()):
        raise Forbidden(f"wrong operator key (this server's is in its data directory's {operator.FILE_NAME})")


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ValidationError("body", f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError("body", "expected a JSON object")
    return data


async def ping(request: Request) -> JSONResponse:
    _check_key(request)
    return JSONResponse({"data_dir": str(request.app.state.settings.data_dir)})


def _endpoint(operation: operator.Operation) -> Any:
    async def perform(request: Request) -> JSONResponse:
        _check_key(request)
        result = await operation(request.app.state.services, await _json_object(request), False)
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    return perform


def routes() -> list[BaseRoute]:
    return [
        Route("/operator", ping, methods=["GET"]),
        *(
            Route(f"/operator/{name}", _endpoint(operation), methods=["POST"])
            for name, operation in operator.OPERATIONS.items()
        ),
    ]
