"""Runs end to end through real worker processes: success, results as files and linked data, cancel, limits, faults."""

from __future__ import annotations

import io
import os
import signal
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pyoxigraph as ox

from resolvers import runs
from resolvers.services import Services
from resolvers.settings import Settings
from tests.conftest import bearer
from tests.runs.conftest import Publish, Workers, alive, http, wait_for, wait_gone, wait_pid

PREFIXES = (
    "PREFIX weblab: <https://w3id.org/weblab/ns#>\nPREFIX prov: <http://www.w3.org/ns/prov#>\n"
    "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>\n"
)


def count_variables(cellml: Path) -> int:
    """Independent of the stand-in engine's regex: count CellML variable elements with an XML parser."""
    return sum(1 for el in ElementTree.parse(cellml).iter() if el.tag.rsplit("}", 1)[-1] == "variable")


async def test_runs_flow_end_to_end_and_their_values_are_one_sparql_query_away(
    workers: Workers,
    services: Services,
    server_url: str,
    publish: Publish,
    owner: Any,
    model_files: list,
    make_user: Any,
) -> None:
    user, token = owner
    protocol = await publish(user, seconds=0.3, steps=3, print="hello from the engine")
    models = {await publish(user, model=path): path for path in model_files}
    private = await publish(user, model=model_files[0], visibility="private")
    workers.start()
    async with http(server_url) as client:
        created = []
        for model in [*models, private]:
            r = await client.post("/runs", json={"model": model, "protocol": protocol}, headers=bearer(token))
            assert r.status_code == 201, r.text
            created.append(r.json()["id"])
        finished = [await wait_for(services, run_id, lambda r: r.finished) for run_id in created]
        assert [r.status for r in finished] == ["SUCCESS"] * len(created), [r.error for r in finished]
        assert all(r.progress_done == r.progress_total == 3 for r in finished)

        r = await client.get(f"/runs/{created[0]}/archive", headers=bearer(token))
        assert r.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert {
            "manifest.xml",
            "outputs-contents.csv",
            "outputs-default-plots.csv",
            "stdout.txt",
            "outputs_n_variables.csv",
        } <= set(names) and "errors.txt" not in names
        assert b"hello from the engine" in zipfile.ZipFile(io.BytesIO(r.content)).read("stdout.txt")

        _, stranger = await make_user("stranger")
        assert (await client.get(f"/runs/{created[-1]}/archive", headers=bearer(stranger))).status_code == 404
        assert (await client.get(f"/runs/{created[-1]}/archive", headers=bearer(token))).status_code == 200

    query = (
        PREFIXES
        + """
    SELECT ?model ?n ?units ?protocol WHERE {
      GRAPH ?e { ?e weblab:latestRun ?run ; weblab:model ?model ; weblab:protocol ?protocol }
      GRAPH ?run { ?run a prov:Activity ; prov:used ?model ; prov:generated ?o .
                   ?o weblab:name "n_variables" ; rdf:value ?n ; weblab:units ?units }
    }"""
    )
    rows = services.store.query(query, substitutions={ox.Variable("protocol"): ox.NamedNode(protocol)})
    found = {r["model"].value: (float(r["n"].value), r["units"].value) for r in rows}
    expected = {m: (float(count_variables(p)), "dimensionless") for m, p in models.items()}
    assert {m: v for m, v in found.items() if m in models} == expected
    assert private in found, "the store holds every run; visibility is applied by the readers"
    series = services.store.query(
        PREFIXES + "SELECT ?v ?m WHERE { GRAPH ?run { ?run weblab:model ?m ; prov:generated ?o ."
        " ?o weblab:name 'series' ; weblab:values ?v } }",
        substitutions={ox.Variable("m"): ox.NamedNode(next(iter(models)))},
    )
    assert [s["v"].value for s in series] == ["0.0 0.5 1.0 1.5"]


async def test_cancelling_a_running_run_kills_its_engine_process(
    workers: Workers,
    services: Services,
    server_url: str,
    publish: Publish,
    owner: Any,
    model_files: list,
    tmp_path: Path,
) -> None:
    user, token = owner
    pids = tmp_path / "pids"
    pids.mkdir()
    protocol = await publish(user, seconds=600, steps=600, ignore_cancel=True, pid_dir=str(pids))
    model = await publish(user, model=model_files[0])
    workers.start()
    run = await runs.create_run(services, model, protocol, caller=user)
    pid = await wait_pid(pids)
    await wait_for(services, run.id, lambda r: r.status == "RUNNING" and r.progress_done > 0)
    async with http(server_url) as client:
        r = await client.post(f"/runs/{run.id}/cancel", headers=bearer(token))
    assert r.json()["status"] == "CANCELLED"
    await wait_gone(pid)
    assert (await runs.get_run(services.db, run.id)).status == "CANCELLED"


async def test_the_time_limit_kills_the_engine_and_fails_the_run(
    workers: Workers,
    services: Services,
    settings: Settings,
    publish: Publish,
    owner: Any,
    model_files: list,
    tmp_path: Path,
) -> None:
    user, _ = owner
    pids = tmp_path / "pids"
    pids.mkdir()
    protocol = await publish(user, seconds=600, ignore_cancel=True, pid_dir=str(pids))
    model = await publish(user, model=model_files[0])
    limit, settings.run_time_limit = settings.run_time_limit, 2.0
    try:
        workers.start()
        run = await runs.create_run(services, model, protocol)
        pid = await wait_pid(pids)
        failed = await wait_for(services, run.id, lambda r: r.finished)
    finally:
        settings.run_time_limit = limit
    assert failed.status == "FAILED" and "time limit" in (failed.error or "")
    await wait_gone(pid)


async def test_a_worker_killed_mid_run_leaves_a_run_that_another_worker_finishes(
    workers: Workers, services: Services, publish: Publish, owner: Any, model_files: list, tmp_path: Path
) -> None:
    user, _ = owner
    pids = tmp_path / "pids"
    pids.mkdir()
    protocol = await publish(user, seconds=600, pid_dir=str(pids), once_marker=str(tmp_path / "once"))
    model = await publish(user, model=model_files[0])
    first = workers.start()
    run = await runs.create_run(services, model, protocol)
    pid = await wait_pid(pids)
    await wait_for(services, run.id, lambda r: r.status == "RUNNING")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    await wait_gone(pid)  # the engine child does not outlive its worker

    report = await runs.recover(services, stale_after=0)
    assert run.id in report.retried
    workers.start()
    done = await wait_for(services, run.id, lambda r: r.finished)
    assert done.status == "SUCCESS" and done.attempts == 2
    assert not alive(pid)


async def test_an_unstarted_cancelled_run_never_runs(
    workers: Workers, services: Services, publish: Publish, owner: Any, model_files: list, tmp_path: Path
) -> None:
    user, _ = owner
    pids = tmp_path / "pids"
    pids.mkdir()
    model = await publish(user, model=model_files[0])
    cancelled = await runs.create_run(services, model, await publish(user, pid_dir=str(pids)))
    await runs.mark_cancelled(services, cancelled.id, "changed my mind")
    later = await runs.create_run(services, model, await publish(user))
    workers.start()
    await wait_for(services, later.id, lambda r: r.status == "SUCCESS")
    never = await runs.get_run(services.db, cancelled.id)
    assert never.status == "CANCELLED" and never.attempts == 0 and never.started_at is None
    assert not any(pids.iterdir()), "the cancelled run's engine never started"


async def test_an_engine_that_falls_short_gives_its_status_with_errors_in_the_archive(
    workers: Workers, services: Services, server_url: str, publish: Publish, owner: Any, model_files: list
) -> None:
    user, token = owner
    oxmeta = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"
    model = await publish(user, model=model_files[0])
    partial = await runs.create_run(
        services,
        model,
        await publish(user, status="PARTIAL", messages=["{protocol}:3:7: output 'x' could not be computed"]),
    )
    inapplicable = await runs.create_run(
        services,
        model,
        await publish(user, status="INAPPLICABLE", missing=[oxmeta + "cytosolic_calcium_concentration"]),
    )
    workers.start()
    done = await wait_for(services, partial.id, lambda r: r.finished)
    # located as the author knows the file, not in the worker's temporary folder
    assert done.status == "PARTIAL" and done.error is not None
    assert done.error.startswith("protocol.txt:3:7: output 'x' could not be computed"), done.error
    async with http(server_url) as client:
        r = await client.get(f"/runs/{partial.id}/archive", headers=bearer(token))
    errors = zipfile.ZipFile(io.BytesIO(r.content)).read("errors.txt").decode()
    assert errors.startswith("protocol.txt:3:7: output 'x' could not be computed"), errors
    unfit = await wait_for(services, inapplicable.id, lambda r: r.finished)
    assert unfit.status == "INAPPLICABLE" and unfit.missing_terms == (
        oxmeta + "cytosolic_calcium_concentration",
    )
    assert "cytosolic_calcium_concentration" in (unfit.error or "")


async def test_the_callback_is_retried_until_the_server_answers(
    services: Services, settings: Settings, server_url: str, publish: Publish, owner: Any, model_files: list
) -> None:
    from worker.callback import RunnerClient

    user, _ = owner
    run = await runs.create_run(services, await publish(user, model=model_files[0]), await publish(user))
    failures = iter(range(2))

    class Flaky(httpx.AsyncHTTPTransport):
        """The network drops the first two requests, then carries them to the real server."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if next(failures, None) is not None:
                raise httpx.ConnectError("connection refused", request=request)
            return await super().handle_async_request(request)

    async with RunnerClient(server_url, settings.signing_key, backoff=0.01, transport=Flaky()) as client:
        granted = await client.claim(run.id, "claim-1", "flaky worker")
    assert granted["proceed"]
    assert (await runs.get_run(services.db, run.id)).status == "RUNNING"
    await runs.mark_cancelled(services, run.id, "test over")


async def test_a_real_protocol_runs_through_the_pipeline_with_the_real_engine(
    workers: Workers, services: Services, server_url: str, entities: Any, owner: Any, shared_data: Path
) -> None:
    """A post-processing-only protocol from the engine's own tests: real engine, real worker, real archive."""
    from resolvers.metadata import Kind
    from resolvers.uploads import Upload

    user, token = owner
    source = shared_data / "fc" / "protocols" / "test_core_postproc.txt"
    _, protocol = await entities.publish(
        user,
        Kind.PROTOCOL,
        "core post-processing",
        [Upload(source.name, source.read_bytes())],
        main=source.name,
    )
    model_file = shared_data / "cellml" / "beeler_reuter_model_1977.cellml"
    _, model = await entities.publish(
        user, Kind.MODEL, "BR for the real engine", [Upload(model_file.name, model_file.read_bytes())]
    )
    workers.start()
    run = await runs.create_run(services, model.uri, protocol.uri, caller=user)
    done = await wait_for(services, run.id, lambda r: r.finished, timeout=180)
    assert done.status == "SUCCESS", done.error
    async with http(server_url) as client:
        r = await client.get(f"/runs/{run.id}/archive", headers=bearer(token))
    names = set(zipfile.ZipFile(io.BytesIO(r.content)).namelist())
    assert {"manifest.xml", "outputs-contents.csv", "outputs-default-plots.csv", "stdout.txt"} <= names
    engine = services.store.query(
        PREFIXES
        + "SELECT ?v ?run WHERE { GRAPH ?run { ?run prov:wasAssociatedWith ?a . ?a weblab:engineVersion ?v } }",
        substitutions={ox.Variable("run"): ox.NamedNode(runs.run_uri(services.settings.base_uri, run.id))},
    )
    assert [s["v"].value for s in engine][0].startswith("worker.fc")


async def test_a_worker_shutting_down_hands_its_run_back_to_the_queue(
    workers: Workers, services: Services, publish: Publish, owner: Any, model_files: list, tmp_path: Path
) -> None:
    user, _ = owner
    pids = tmp_path / "pids"
    pids.mkdir()
    protocol = await publish(user, seconds=600, pid_dir=str(pids), once_marker=str(tmp_path / "once"))
    model = await publish(user, model=model_files[0])
    first = workers.start()
    run = await runs.create_run(services, model, protocol)
    pid = await wait_pid(pids)
    await wait_for(services, run.id, lambda r: r.status == "RUNNING")
    first.send_signal(signal.SIGTERM)
    released = await wait_for(services, run.id, lambda r: r.status != "RUNNING")
    assert released.status == "QUEUED" and "stopped mid-run" in (released.error or "")
    await wait_gone(pid)
    first.wait()
    await runs.recover(services)  # re-enqueues only if the stopped worker's own retry did not survive
    workers.start()
    done = await wait_for(services, run.id, lambda r: r.finished)
    assert done.status == "SUCCESS" and done.attempts == 2
