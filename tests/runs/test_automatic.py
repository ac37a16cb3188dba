"""Automatic runs: a new version queues its experiments; run-all queues every one that has no run; incompatible
pairs are recorded INAPPLICABLE with the missing terms and never queued."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from arq.jobs import Job, JobStatus

from resolvers import runs
from resolvers.entities import Entities
from resolvers.metadata import Kind
from resolvers.services import Services
from resolvers.uploads import Upload
from tests.runs.conftest import Publish


async def _cancel(services: Services, ids: list[str]) -> None:
    for run_id in ids:
        await runs.mark_cancelled(services, run_id, "test over")


async def test_an_incompatible_pair_is_inapplicable_with_its_missing_terms_and_never_queued(
    services: Services, entities: Entities, owner: Any, shared_data: Path
) -> None:
    user, _ = owner
    bare = shared_data / "fc" / "models" / "single_ode.cellml"
    _, model = await entities.publish(
        user, Kind.MODEL, "unannotated ODE", [Upload(bare.name, bare.read_bytes())]
    )
    source = shared_data / "fc" / "protocols" / "real" / "S1S2.txt"
    _, protocol = await entities.publish(
        user,
        Kind.PROTOCOL,
        "S1S2 for compatibility",
        [Upload(source.name, source.read_bytes())],
        main=source.name,
    )
    required = {
        r["t"].value
        for r in services.store.query(
            "SELECT ?t ?p WHERE { GRAPH ?p { ?p <https://w3id.org/weblab/ns#requiresTerm> ?t } }",
            substitutions={ox.Variable("p"): ox.NamedNode(protocol.uri)},
        )
    }
    assert required, "the protocol's interface names the terms it requires"

    annotated = set(
        re.findall(
            r'rdf:resource="(https://chaste\.comlab\.ox\.ac\.uk/cellml/ns/oxford-metadata#\w+)"',
            bare.read_text(),
        )
    )
    assert annotated and required - annotated and required & annotated, (
        "the model has some required terms, not all"
    )

    run = await runs.create_run(services, model.uri, protocol.uri, caller=user)
    assert run.status == "INAPPLICABLE" and set(run.missing_terms) == required - annotated
    assert "does not annotate" in (run.error or "")
    job = Job(run.id, services.redis, _queue_name=services.settings.queue_name)
    assert await job.status() == JobStatus.not_found
    # ... and known as linked data: the run's graph names its status and the missing terms, and no archive
    graph = f"{services.settings.base_uri.rstrip('/')}/runs/{run.id}"
    told = {
        (r["p"].value, r["o"].value)
        for r in services.store.query(f"SELECT ?p ?o WHERE {{ GRAPH <{graph}> {{ <{graph}> ?p ?o }} }}")
    }
    weblab = "https://w3id.org/weblab/ns#"
    assert (weblab + "status", "INAPPLICABLE") in told and (weblab + "model", model.uri) in told
    assert {o for p, o in told if p == weblab + "missingTerm"} == required - annotated
    assert not any(p == "http://www.w3.org/ns/prov#generated" for p, _ in told)

    complete = shared_data / "fc" / "models" / "real" / "beeler_reuter_model_1977.cellml"
    _, fitting = await entities.publish(
        user, Kind.MODEL, "BR for compatibility", [Upload(complete.name, complete.read_bytes())]
    )
    fits = await runs.create_run(services, fitting.uri, protocol.uri, caller=user)
    assert fits.status == "QUEUED" and fits.missing_terms == ()
    await runs.mark_cancelled(services, fits.id, "test over")


async def test_a_new_version_queues_its_experiments_with_the_counterparts_its_author_sees(
    services: Services, publish: Publish, owner: Any, model_files: list, make_user: Any
) -> None:
    user, _ = owner
    someone, _ = await make_user("someone")
    public = await publish(user)
    hidden = await publish(someone, visibility="private")
    model = await publish(user, model=model_files[1])

    first = await runs.queue_for_version(services, model)
    paired = {(await runs.get_run(services.db, i)).protocol_version_uri for i in first.queued}
    assert public in paired and hidden not in paired
    assert all([(await runs.get_run(services.db, i)).queue == "bulk" for i in first.queued])
    second = await runs.queue_for_version(services, model)
    assert second.queued == [] and second.skipped >= len(first.queued)
    await _cancel(services, first.queued)


async def test_adding_a_version_through_the_platform_queues_its_experiments(
    services: Services, publish: Publish, owner: Any, model_files: list
) -> None:
    user, _ = owner
    protocol = await publish(user)
    platform = Entities.from_services(
        services, auto_run=True
    )  # as GraphQL and the upload routes do by default
    _, version = await platform.publish(
        user,
        Kind.MODEL,
        f"auto {model_files[1].stem}",
        [Upload(model_files[1].name, model_files[1].read_bytes())],
    )
    run = await runs.current_run(
        services.db, runs.experiment_uri(services.settings.base_uri, version.uri, protocol)
    )
    assert run is not None and run.status == "QUEUED" and run.queue == "bulk"
    again = await runs.queue_for_version(services, version.uri)
    assert again.queued == [], "an experiment with a run is not queued twice"
    await _cancel(services, [run.id])


async def test_run_all_queues_every_latest_experiment_without_a_run_once(
    services: Services, publish: Publish, owner: Any, model_files: list
) -> None:
    user, _ = owner
    model = await publish(user, model=model_files[0])
    protocol = await publish(user)
    first = await runs.run_all(services)
    experiment = runs.experiment_uri(services.settings.base_uri, model, protocol)
    assert [r.id for r in await runs.history(services.db, experiment)][0] in first.queued
    again = await runs.run_all(services)
    assert again.queued == [] and again.inapplicable == []
    await _cancel(services, first.queued)
