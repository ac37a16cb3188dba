"""Checking a page with axe-core, the accessibility engine the browser vendors' own audits build on.

axe-core comes from the ``axe-playwright-python`` test dependency (which bundles
its ``axe.min.js``), injected into the page under test: it is never served to
users and never fetched from a CDN. Only violations of impact "serious" or
"critical" fail a test; "moderate" and "minor" ones are best practices axe
itself calls optional.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.async_playwright import Axe

FAILING_IMPACTS = frozenset({"serious", "critical"})
_AXE = Axe()


async def serious_violations(page: Any, where: str) -> list[str]:
    """axe-core's serious and critical violations on ``page`` as it is now, one readable line per element.

    Each line names ``where`` (the page and state checked), the rule, its impact, the element's
    selector and axe's own summary of how to fix it, so a failing test says what to change.
    """
    results = await _AXE.run(page)
    lines = []
    for violation in results.response["violations"]:
        if violation["impact"] not in FAILING_IMPACTS:
            continue
        for node in violation["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(
                f"{where}: {violation['id']} ({violation['impact']}) at {target}: "
                f"{violation['help']}. {summary}"
            )
    return lines
