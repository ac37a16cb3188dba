"""The experiment job: claim a run, fetch its model and protocol, run the engine, report the result.

A worker needs only Redis, the web server's URL (``WEBLAB_SERVER_URL``, else
``WEBLAB_BASE_URI``) and the shared secret (``WEBLAB_SECRET_KEY``): everything
else comes over the runner contract (``worker/callback.py``). The job:

1. claims the run (QUEUED → RUNNING); a refused claim (cancelled, finished,
   held by another attempt, unknown) ends the job without running anything;
2. downloads the two COMBINE archives by the signed URLs the claim returned;
3. runs the engine in a child process (``worker/runner.py``) under the time
   limit the server gave, sending progress and a heartbeat every
   :data:`HEARTBEAT_INTERVAL` seconds, and polling the run's cancel key in
   Redis so that a cancelled run's child is killed within a second;
4. posts the result archive (COMBINE/OMEX: ``manifest.xml``, the outputs,
   ``outputs-contents.csv``, ``outputs-default-plots.csv``, ``stdout.txt``,
   ``errors.txt`` unless SUCCESS) to the callback, retried until the server
   takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from worker.callback import CallbackRejected, RunnerClient
from worker.contract import JOB_NAME, MANIFEST, RESULT_MAIN, build_omex, read_manifest_master, write_manifest
from worker.runner import DEFAULT_ENGINE, Outcome, run_engine

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 5.0
CANCEL_POLL = 0.5


class ServerAccess(Protocol):
    """What a worker must know of the platform's settings: where the server is, and the shared secret."""

    @property
    def server_url(self) -> str | None: ...

    @property
    def base_uri(self) -> str: ...

    @property
    def signing_key(self) -> str: ...


def _server_access(ctx: dict[str, Any]) -> ServerAccess:
    access: ServerAccess | None = ctx.get("settings")
    if access is None:
        raise RuntimeError(
            "this worker was started without the platform's settings (make_worker(settings=...)), "
            "so it cannot reach the server to run an experiment"
        )
    return access


def unpack_archive(data: bytes, into: Path) -> Path:
    """Unpack a COMBINE archive safely into ``into``; return the path of its master file."""
    into.mkdir(parents=True, exist_ok=True)
    root = into.resolve()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            target = (into / PurePosixPath(info.filename)).resolve()
            if not target.is_relative_to(root):
                raise ValueError(f"the archive holds a path outside itself: {info.filename!r}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
    manifest = into / MANIFEST
    master = read_manifest_master(manifest.read_bytes()) if manifest.exists() else None
    if master is not None:
        return into / master
    files = [p for p in into.rglob("*") if p.is_file() and p.name != MANIFEST]
    if len(files) == 1:
        return files[0]
    raise ValueError("the archive's manifest marks no master file")


def _as_published(text: str, work: Path) -> str:
    """Paths in what the engine said as the user knows them (``protocol.txt:12:5``), not inside this worker's
    temporary folder, which means nothing to the reader and only tells them about the worker's machine."""
    for folder in (work / "protocol", work / "model", work):
        text = text.replace(f"{folder}/", "")
    return text


def build_result_archive(output_dir: Path, work_dir: Path, outcome: Outcome) -> bytes:
    """The run's COMBINE archive: the engine's files, its printed output and, unless SUCCESS, its errors."""
    files: dict[str, bytes] = {}
    for path in sorted(output_dir.rglob("*")):
        if path.is_file():
            files[path.relative_to(output_dir).as_posix()] = path.read_bytes()
    files.setdefault(
        RESULT_MAIN, b"Variable id,Variable name,Units,Number of dimensions,File name,Type,Dimensions\n"
    )
    files.setdefault(
        "outputs-default-plots.csv",
        b"Plot title,File name,Data file name,Line style,First variable id,"
        b"Optional second variable id,Optional key variable id\n",
    )
    stdout = work_dir / "stdout.txt"
    files["stdout.txt"] = (
        _as_published(stdout.read_text(errors="replace"), work_dir).encode() if stdout.exists() else b""
    )
    if outcome.status != "SUCCESS":
        lines = [m for m in outcome.messages if m]
        if outcome.missing_terms:
            lines.append("missing terms: " + ", ".join(outcome.missing_terms))
        files["errors.txt"] = ("\n".join(lines or [f"the run ended {outcome.status}"]) + "\n").encode()
    files.pop(MANIFEST, None)
    files[MANIFEST] = write_manifest(list(files), RESULT_MAIN)
    return build_omex(files, datetime.now(UTC))


class _Monitor:
    """Progress, heartbeat and cancellation for one running run.

    Progress and heartbeats are sent in the background (one call at a time), so that a slow or absent
    server never delays the checks for cancellation and the time limit.
    """

    def __init__(self, client: RunnerClient, redis: Any, run_id: str, claim: str, cancel_key: str) -> None:
        self.client, self.redis, self.run_id, self.claim, self.cancel_key = (
            client,
            redis,
            run_id,
            claim,
            cancel_key,
        )
        self.progress = (0, 0)
        self.sent: tuple[int, int] | None = None
        self.sent_at = 0.0
        self.checked_at = 0.0
        self.stop = False
        self.pending: asyncio.Task[None] | None = None

    def _send_soon(self) -> None:
        if self.pending is None or self.pending.done():
            self.sent_at = time.monotonic()
            self.pending = asyncio.create_task(self._send())

    async def on_progress(self, done: int, total: int) -> None:
        self.progress = (done, total)
        if time.monotonic() - self.sent_at >= 1.0:
            self._send_soon()

    async def flush(self) -> None:
        """Deliver the last progress if it was held back by the rate limit (before the result is posted)."""
        if self.pending is not None:
            await self.pending
        if self.progress != self.sent and not self.stop:
            await self._send()

    async def _send(self) -> None:
        self.sent = self.progress
        try:
            answer = await self.client.progress(self.run_id, self.claim, *self.progress)
        except CallbackRejected as exc:
            log.warning("run %s: progress refused: %s", self.run_id, exc)
            self.stop = True
        except Exception as exc:  # the server is away: keep running, the result is retried later
            log.warning("run %s: progress not delivered: %s", self.run_id, exc)
        else:
            self.stop = self.stop or bool(answer.get("stop"))

    async def should_stop(self) -> bool:
        now = time.monotonic()
        if now - self.checked_at >= CANCEL_POLL:
            self.checked_at = now
            if await self.redis.exists(self.cancel_key):
                self.stop = True
        if not self.stop and now - self.sent_at >= HEARTBEAT_INTERVAL:
            self._send_soon()
        return self.stop

    def close(self) -> None:
        if self.pending is not None and not self.pending.done():
            self.pending.cancel()


async def _execute(
    client: RunnerClient, ctx: dict[str, Any], run_id: str, claim: str, granted: dict[str, Any], engine: str
) -> tuple[Outcome, bytes | None]:
    """Fetch, run and pack one claimed run; the archive is None when the run was cancelled."""
    monitor = _Monitor(client, ctx["redis"], run_id, claim, granted["cancel_key"])
    with tempfile.TemporaryDirectory(prefix="weblab-run-") as tmp:
        work = Path(tmp)
        output_dir = work / "outputs"
        output_dir.mkdir()
        try:
            model = unpack_archive(await client.download(granted["model_url"]), work / "model")
            protocol = unpack_archive(await client.download(granted["protocol_url"]), work / "protocol")
        except Exception as exc:
            outcome = Outcome("FAILED", [f"could not fetch the model or protocol: {exc}"])
        else:
            try:
                outcome = await run_engine(
                    model,
                    protocol,
                    output_dir,
                    work,
                    time_limit=float(granted["time_limit"]),
                    on_progress=monitor.on_progress,
                    should_stop=monitor.should_stop,
                    engine=granted.get("engine") or engine,
                    inputs=granted.get("inputs") or None,
                )
            except BaseException:
                monitor.close()
                raise
            outcome.messages = [_as_published(m, work) for m in outcome.messages]
        await monitor.flush()
        if outcome.status == "CANCELLED":
            return outcome, None
        return outcome, build_result_archive(output_dir, work, outcome)


async def run_experiment(ctx: dict[str, Any], run_id: str, engine: str = DEFAULT_ENGINE) -> str:
    """The arq job for one run (job id = run id). Returns a one-line summary for arq's result."""
    started = time.monotonic()
    summary = "failed"
    try:
        summary = await _run_experiment(ctx, run_id, engine)
        return summary
    finally:
        log.info(
            "run %s: %s",
            run_id,
            summary,
            extra={
                "job_id": run_id,
                "worker": ctx.get("worker_name"),
                "outcome": summary,
                "duration_s": round(time.monotonic() - started, 3),
            },
        )


async def _run_experiment(ctx: dict[str, Any], run_id: str, engine: str) -> str:
    settings = _server_access(ctx)
    worker = ctx.get("worker_name") or "worker"
    claim = uuid.uuid4().hex
    async with RunnerClient(settings.server_url or settings.base_uri, settings.signing_key) as client:
        try:
            granted = await client.claim(run_id, claim, worker)
        except CallbackRejected as exc:
            if exc.status == 401:
                log.error(
                    "run %s: the server refused this worker's signature; set WEBLAB_SECRET_KEY to the "
                    "server's secret key (and WEBLAB_SERVER_URL to its address)",
                    run_id,
                )
            return f"not run: {exc}"
        if not granted.get("proceed"):
            return f"not run: the run is {granted.get('status')}"
        try:
            outcome, archive = await _execute(client, ctx, run_id, claim, granted, engine)
        except asyncio.CancelledError:  # the worker is shutting down: hand the run back at once
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.release(run_id, claim, f"worker {worker} stopped mid-run"), 10)
            raise
        if archive is None:
            return "cancelled"  # the server already holds the final status
        try:
            answer = await client.result(
                run_id,
                claim,
                outcome.status,
                archive,
                engine_version=outcome.engine_version,
                missing=outcome.missing_terms,
            )
        except CallbackRejected as exc:
            return f"result refused: {exc}"
    return f"{answer.get('status')} (reported {outcome.status})"


def _job() -> Any:
    from arq.worker import func

    # arq may run a job again after a worker shutdown (the run was released to QUEUED first); whether a
    # run may start again is the server's decision (attempts, status), so arq's own limit is only a backstop.
    return func(run_experiment, name=JOB_NAME, max_tries=5)


JOB_FUNCTIONS = [_job()]

__all__ = ["JOB_FUNCTIONS", "run_experiment", "build_result_archive", "unpack_archive"]
