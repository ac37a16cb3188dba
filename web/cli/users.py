"""``weblab user add``: accounts made by an operator (an admin before anyone can sign in)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from resolvers import accounts
from resolvers.services import Services
from resolvers.settings import Settings
from web.cli.command import fail, with_services


def add_commands(sub: Any) -> None:
    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="create a user; the password is read from standard input")
    add.add_argument("name")
    add.add_argument("--email", required=True)
    add.add_argument("--role", action="append", choices=["admin", "moderator"], help="may be repeated")
    add.set_defaults(func=cmd_user_add)


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        return fail("give the password on standard input, e.g. `echo 'secret pw' | weblab user add ...`", 2)

    async def action(services: Services) -> int:
        user = await accounts.create_user(
            services.db, args.name, args.email, password, frozenset(args.role or ())
        )
        roles = ", ".join(sorted(user.roles)) or "no roles"
        print(f"created user {user.name} <{user.email}> ({roles})")
        return 0

    return asyncio.run(with_services(settings, action))
