"""Operator commands beside a running server: ``weblab user add``, ``weblab import`` and ``weblab run-all``.

A running ``weblab serve`` holds its data directory's embedded triple store (Oxigraph locks it), so a
second process cannot open it. The server therefore publishes ``DATA_DIR/operator.json`` (mode 0600:
its local URL and a fresh random key, readable only by who may read the data directory) while it
serves, and these commands hand it their work over ``/operator/…`` (``web/routes/operator.py``)
instead of opening the store a second time. With no server, or a stale file (the server is gone, or
another process answers there and does not know the key), they run in their own process as before.

The file is written even when the triples live in a remote store (``WEBLAB_SPARQL_URL``): the server
keeps in-process caches of what the store says, which a second process writing behind its back would
leave stale, and the embedded PostgreSQL and Redis are its to run.

This module owns the three pieces both sides share: the file (:func:`publish`, :func:`withdraw`,
:func:`find_server`), the operations (one function each, JSON in and out, called in-process by the
command or by the route: the same code either way) and the client (:class:`RunningServer`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import httpx

from resolvers import accounts, runs
from resolvers.entities import Entities
from resolvers.errors import NotFound, ValidationError, WeblabError
from resolvers.importer import import_paths
from resolvers.metadata import Kind, Visibility
from resolvers.services import Services
from resolvers.settings import Settings

log = logging.getLogger(__name__)

FILE_NAME = "operator.json"
SCHEME = "Operator"  # Authorization: Operator <key>
PING_TIMEOUT = 5.0  # a live server answers its ping at once; one that does not is treated as gone

# --- the file ----------------------------------------------------------------------------------


def operator_file(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def local_url(host: str, port: int) -> str:
    """The URL at which a process on this machine reaches a server listening on ``host``:``port``.

    A wildcard address (all interfaces) is reached on loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def publish(settings: Settings) -> str:
    """Write ``operator.json`` for this server (atomically, mode 0600) and give its key.

    The key is new at every start: a file left by a server that died names a key nobody knows."""
    key = secrets.token_urlsafe(32)
    record = {"url": local_url(settings.host, settings.port), "key": key, "pid": os.getpid()}
    target = operator_file(settings.data_dir)
    temporary = target.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
        os.chmod(temporary, 0o600)  # O_CREAT's mode does not apply to a file that was already there
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return key


def withdraw(settings: Settings, key: str) -> None:
    """Remove ``operator.json`` if it is still this server's (another server may have started since)."""
    target = operator_file(settings.data_dir)
    try:
        if json.loads(target.read_text()).get("key") != key:
            return
        target.unlink()
    except (OSError, ValueError, AttributeError) as exc:
        log.debug("operator file not removed: %s", exc)


# --- the client --------------------------------------------------------------------------------


class OperatorFailure(WeblabError):
    """The running server refused or failed the operation; carries its status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class RunningServer:
    """A server that answered with the key of its ``operator.json``: it does the work."""

    url: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"{SCHEME} {self.key}"}

    async def answers(self) -> bool:
        """Whether the server at ``url`` is up and knows ``key`` (so it wrote the file)."""
        try:
            async with httpx.AsyncClient(timeout=PING_TIMEOUT) as client:
                response = await client.get(self.url + "operator", headers=self.headers)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """Run ``operation`` on the server; its refusal is raised as :class:`OperatorFailure`."""
        # an import or run-all may take minutes: no read deadline, only one to connect
        timeout = httpx.Timeout(None, connect=PING_TIMEOUT)
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(
                    f"{self.url}operator/{operation}", json=request, headers=self.headers
                )
        except httpx.HTTPError as exc:
            raise OperatorFailure(
                503,
                "unavailable",
                f"lost the running server at {self.url} while it worked on this command ({exc}); "
                "it may have done part of it",
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            raise OperatorFailure(response.status_code, str(error.get("code")), error["message"])
        raise OperatorFailure(
            response.status_code,
            f"http_{response.status_code}",
            f"the running server at {self.url} answered {response.status_code}: {response.text[:200]}",
        )


async def find_server(data_dir: Path) -> RunningServer | None:
    """The server that holds ``data_dir``, when its ``operator.json`` is there and the server answers."""
    try:
        record = json.loads(operator_file(data_dir).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", operator_file(data_dir), exc)
        return None
    url, key = (record.get("url"), record.get("key")) if isinstance(record, dict) else (None, None)
    if not isinstance(url, str) or not isinstance(key, str):
        log.warning("ignoring %s: it names no url and key", operator_file(data_dir))
        return None
    server = RunningServer(url if url.endswith("/") else url + "/", key)
    if await server.answers():
        return server
    log.debug("ignoring stale %s: no server there knows its key", operator_file(data_dir))
    return None


# --- the operations ----------------------------------------------------------------------------

# (services, the request as JSON, whether it runs in the command's own process) → the result as JSON.
# ``local`` is what differs: only there may the operation draw on the terminal or read relative paths.
Operation = Callable[[Services, dict[str, Any], bool], Awaitable[dict[str, Any]]]
E = TypeVar("E", bound=Enum)


def _text(request: dict[str, Any], name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str):
        raise ValidationError(name, "expected a string")
    return value


def _texts(request: dict[str, Any], name: str) -> list[str]:
    value = request.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(name, "expected a list of strings")
    return value


def _choice(request: dict[str, Any], name: str, choices: type[E]) -> E:
    value = request.get(name)
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(str(c.value) for c in choices)
        raise ValidationError(name, f"expected one of {allowed}") from None


def _flag(request: dict[str, Any], name: str) -> bool:
    value = request.get(name, False)
    if not isinstance(value, bool):
        raise ValidationError(name, "expected true or false")
    return value


async def add_user(services: Services, request: dict[str, Any], local: bool) -> dict[str, Any]:
    """``weblab user add``."""
    user = await accounts.create_user(
        services.db,
        _text(request, "name"),
        _text(request, "email"),
        _text(request, "password"),
        frozenset(_texts(request, "roles")),
    )
    return {"name": user.name, "email": user.email, "roles": sorted(user.roles)}


async def import_files(services: Services, request: dict[str, Any], local: bool) -> dict[str, Any]:
    """``weblab import``: the summary, with each failed file and its reason."""
    paths = [Path(p) for p in _texts(request, "paths")]
    if not local and not all(p.is_absolute() for p in paths):
        raise ValidationError(
            "paths", "give absolute paths: the server does not share your working directory"
        )
    chosen_kind = _choice(request, "kind", Kind) if request.get("kind") is not None else None
    visibility = _choice(request, "visibility", Visibility) if "visibility" in request else Visibility.PUBLIC
    owner_name = _text(request, "owner")
    try:
        owner = await accounts.get_user(services.db, owner_name)
    except NotFound:
        raise NotFound(f"no user named {owner_name!r}; create one with `weblab user add`") from None
    summary = await import_paths(
        Entities.from_services(services, auto_run=False),
        owner,
        paths,
        kind=chosen_kind,
        visibility=visibility,
        progress=local,
    )
    return {"imported": summary.imported, "unchanged": summary.unchanged, "failed": summary.failed}


async def run_all(services: Services, request: dict[str, Any], local: bool) -> dict[str, Any]:
    """``weblab run-all [--recover]``: what recovery did (or null), and what was queued."""
    recovery = asdict(await runs.recover(services)) if _flag(request, "recover") else None
    return {"recovery": recovery, "queued": asdict(await runs.run_all(services))}


OPERATIONS: dict[str, Operation] = {"users": add_user, "import": import_files, "run-all": run_all}
