"""Experiment runs over HTTP: the runner contract for workers, and runs for users.

For workers (signed with the shared secret, see ``worker/contract.py`` and
``worker/callback.py``)::

    POST /runner/runs/{id}/claim       QUEUED → RUNNING; answers the archive URLs, time limit, cancel key
    POST /runner/runs/{id}/progress    progress and heartbeat; answers whether to stop
    POST /runner/runs/{id}/release     the worker is shutting down: back to the queue (or FAILED, out of attempts)
    POST /runner/runs/{id}/result      the result archive and final status (idempotent, forward-only)
    GET  /runner/archives/{token}      a model or protocol version's COMBINE archive (token from the claim),
                                       honoured only while that run is RUNNING under that claim (else 403)

For users (visibility: a run is visible when both of its versions are)::

    POST /runs                         {"model": <version URI>, "protocol": <version URI>} → 201, the run (interactive)
    GET  /runs/{id}/status             the run's state, progress and error as JSON
    POST /runs/{id}/cancel             cancel it (its starter, editors of its model or protocol, admins)
    GET  /runs/{id}/archive            the result archive (COMBINE/OMEX)

Which engine module workers load is ``app.state.run_engine`` when set (tests run
a stand-in engine); otherwise the worker's default, ``worker.fc``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from resolvers import runs
from resolvers.errors import Forbidden, NotFound, Unauthenticated, UploadTooLarge, ValidationError
from resolvers.services import Services
from resolvers.tokens import make_token, read_token
from worker.contract import SIGNATURE_HEADER, BadSignature, cancel_key, verify_request

ARCHIVE_TOKEN_TTL = 600.0
ARCHIVE_PURPOSE = "run-archive"


@dataclass(frozen=True)
class _Runner:
    """The server acting for a worker: may read any version it hands out (like an admin, nothing more)."""

    id: int = 0
    name: str = "weblab-runner"
    is_admin: bool = True
    is_moderator: bool = False


RUNNER = _Runner()


def _services(request: Request) -> Any:
    return request.app.state.services


def _claim_digest(claim: str) -> str:
    """What an archive token carries of the claim it was issued to (the claim itself stays with the worker)."""
    return hashlib.sha256(b"weblab-claim\0" + claim.encode()).hexdigest()[:32]


async def _check_archive_token(services: Services, payload: dict[str, Any]) -> None:
    """An archive token is good while its run is RUNNING under the claim it was issued to, for its versions."""
    run_id, version, claim = payload.get("r"), payload.get("v"), payload.get("c")
    if not isinstance(run_id, str) or not isinstance(claim, str):
        raise Forbidden(
            "this archive link is not bound to a claimed run; archive links work only while their "
            "run is claimed and running"
        )
    try:
        run = await runs.get_run(services.db, run_id)
    except NotFound:
        raise Forbidden(
            f"this archive link was issued for run {run_id}, which does not exist any more; archive "
            "links work only while their run is claimed and running"
        ) from None
    if run.status != "RUNNING":
        raise Forbidden(
            f"this archive link was issued for run {run.id}, which is {run.status.lower()} now; "
            "archive links work only while their run is claimed and running"
        )
    if run.claim is None or not hmac.compare_digest(_claim_digest(run.claim), claim):
        raise Forbidden(
            f"this archive link was issued for an earlier claim of run {run.id}, which was claimed "
            "again since; archive links work only while their run is claimed and running, "
            "under the claim they were issued to"
        )
    if version not in (run.model_version_uri, run.protocol_version_uri):
        raise Forbidden(
            f"this archive link names a version that run {run.id} does not use; archive links work "
            "only while their run is claimed and running, for its model and protocol"
        )


async def _signed_body(request: Request) -> bytes:
    """The request body, once its signature is checked; 401 when it is not signed by the shared secret."""
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        verify_request(
            _services(request).settings.signing_key,
            request.headers.get(SIGNATURE_HEADER),
            request.method,
            path,
            body,
        )
    except BadSignature as exc:
        raise Unauthenticated(f"runner callbacks must be signed with the shared secret: {exc}") from exc
    return body


def _json_fields(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise ValidationError("body", f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError("body", "expected a JSON object")
    return data


MAX_TEXT = 2000  # characters of a claim, worker name, reason, engine version or missing term list


def _text(value: str, name: str) -> str:
    """A string the database can hold: PostgreSQL's text refuses NUL, and nothing a worker sends is long."""
    if "\x00" in value:
        raise ValidationError(name, "may not contain a NUL character")
    if len(value) > MAX_TEXT:
        raise ValidationError(name, f"is longer than {MAX_TEXT} characters")
    return value


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationError(name, "is required (a string)")
    return _text(value, name)


def _int(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(name, "is required (an integer)")
    return value


# --- workers -----------------------------------------------------------------------------------


async def claim(request: Request) -> JSONResponse:
    data = _json_fields(await _signed_body(request))
    services = _services(request)
    settings = services.settings
    granted = await runs.claim_run(
        services, request.path_params["run_id"], _str(data, "claim"), _str(data, "worker")
    )
    run = granted.run
    answer: dict[str, Any] = {"proceed": granted.proceed, "status": run.status, "attempt": run.attempts}
    if granted.proceed:
        key = settings.signing_key

        def url(version: str) -> str:
            bound = {"v": version, "r": run.id, "c": _claim_digest(run.claim or "")}
            token = make_token(key, ARCHIVE_PURPOSE, bound, ARCHIVE_TOKEN_TTL)
            return f"/runner/archives/{token}"

        answer.update(
            model_url=url(run.model_version_uri),
            protocol_url=url(run.protocol_version_uri),
            time_limit=settings.run_time_limit,
            cancel_key=cancel_key(settings.queue_name, run.id),
            engine=getattr(request.app.state, "run_engine", None),
            inputs={},
        )
    return JSONResponse(answer)


async def progress(request: Request) -> JSONResponse:
    data = _json_fields(await _signed_body(request))
    claim_token = _str(data, "claim")
    run = await runs.report_progress(
        _services(request),
        request.path_params["run_id"],
        claim_token,
        _int(data, "done"),
        _int(data, "total"),
    )
    return JSONResponse({"stop": runs.should_stop(run, claim_token), "status": run.status})


async def release(request: Request) -> JSONResponse:
    data = _json_fields(await _signed_body(request))
    run = await runs.release_run(
        _services(request), request.path_params["run_id"], _str(data, "claim"), _str(data, "reason")
    )
    return JSONResponse({"status": run.status})


async def result(request: Request) -> JSONResponse:
    services = _services(request)
    limit = services.settings.max_unpacked_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge("archive", f"a result archive may hold at most {limit} bytes")
    archive = await _signed_body(request)
    if len(archive) > limit:
        raise UploadTooLarge("archive", f"a result archive may hold at most {limit} bytes")
    q = request.query_params
    claim_token, status = _text(q.get("claim", ""), "claim"), _text(q.get("status", ""), "status")
    if not claim_token:
        raise ValidationError("claim", "is required")
    finished = await runs.finish_run(
        services,
        request.path_params["run_id"],
        claim_token,
        status,
        archive,
        engine_version=_text(q.get("engine", ""), "engine"),
        missing=_text(q.get("missing", ""), "missing").split(),
    )
    return JSONResponse({"status": finished.run.status, "changed": finished.changed})


async def version_archive(request: Request) -> Response:
    from resolvers.entities import Entities

    services = _services(request)
    try:
        payload = read_token(services.settings.signing_key, ARCHIVE_PURPOSE, request.path_params["token"])
    except BadSignature as exc:
        raise Unauthenticated(f"this archive link is not valid: {exc}") from exc
    await _check_archive_token(services, payload)
    entity, sha = runs.split_version_uri(payload["v"])
    _, version, data = await Entities.from_services(services).archive(RUNNER, entity, sha)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{version.sha}.omex"'},
    )


# --- users -------------------------------------------------------------------------------------


def _user(request: Request) -> Any:
    user = request.state.user
    if user is None:
        raise Unauthenticated()
    return user


async def create(request: Request) -> JSONResponse:
    user = _user(request)
    try:
        data = await request.json()
    except ValueError as exc:
        raise ValidationError("body", f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError("body", "expected a JSON object with 'model' and 'protocol' version URIs")
    services = _services(request)
    run = await runs.create_run(
        services, _str(data, "model"), _str(data, "protocol"), queue="interactive", caller=user
    )
    return JSONResponse(run.to_json(services.settings.base_uri), status_code=201)


async def status(request: Request) -> JSONResponse:
    services = _services(request)
    run = await runs.visible_run(services, request.state.user, request.path_params["run_id"])
    return JSONResponse(run.to_json(services.settings.base_uri))


async def cancel(request: Request) -> JSONResponse:
    services = _services(request)
    run = await runs.cancel_run(services, request.path_params["run_id"], _user(request))
    return JSONResponse(run.to_json(services.settings.base_uri))


async def run_archive(request: Request) -> Response:
    services = _services(request)
    run = await runs.visible_run(services, request.state.user, request.path_params["run_id"])
    if run.archive_path is None:
        raise NotFound(f"run {run.id} has no result archive ({run.status})")
    path = services.settings.files / run.archive_path
    if not path.is_file():
        raise NotFound(f"the result archive of run {run.id} is missing from the data directory")
    return FileResponse(path, media_type="application/zip", filename=f"run-{run.id}.omex")


def routes() -> list[BaseRoute]:
    return [
        Route("/runner/runs/{run_id}/claim", claim, methods=["POST"]),
        Route("/runner/runs/{run_id}/progress", progress, methods=["POST"]),
        Route("/runner/runs/{run_id}/release", release, methods=["POST"]),
        Route("/runner/runs/{run_id}/result", result, methods=["POST"]),
        Route("/runner/archives/{token}", version_archive, methods=["GET"]),
        Route("/runs", create, methods=["POST"]),
        Route("/runs/{run_id}/status", status, methods=["GET"]),
        Route("/runs/{run_id}/cancel", cancel, methods=["POST"]),
        Route("/runs/{run_id}/archive", run_archive, methods=["GET"]),
    ]
