"""``weblab cache invalidate``: after a write made straight to the SPARQL server, behind the platform's back.

The web servers keep what they read of a remote store for the store's generation (``sparql/generation.py``);
only the platform's own writes advance it. This command advances it by hand, so every server reads the store
afresh on its next request. The embedded store is written by the platform alone: nothing to invalidate.
"""

from __future__ import annotations

import argparse
from typing import Any

from resolvers.settings import Settings
from sparql.generation import SharedGeneration
from web.cli.command import fail


def add_commands(sub: Any) -> None:
    cache = sub.add_parser("cache", help="the web servers' caches of a remote triple store")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    invalidate = cache_sub.add_parser(
        "invalidate", help="make every web server read the remote store afresh (after a write made behind it)"
    )
    invalidate.set_defaults(func=cmd_invalidate)


def cmd_invalidate(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.sparql_url:
        return fail(
            "the embedded triple store is written by the platform alone: there is no cache to invalidate"
        )
    if not settings.redis_url:
        return fail("weblab cache invalidate needs WEBLAB_REDIS_URL, the Redis the web servers share")
    generation = SharedGeneration(settings.redis_url, settings.queue_name)
    try:
        print(f"store generation is now {generation.advance()}: every web server reads the store afresh")
    finally:
        generation.close()
    return 0
