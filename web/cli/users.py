"""``weblab user add``: accounts made by an operator (an admin before anyone can sign in).

It works whether or not ``weblab serve`` is running on the data directory (``web/cli/command.py``'s
:func:`operate`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from resolvers.settings import Settings
from web.cli.command import fail, operate


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
    request = {
        "name": args.name,
        "email": args.email,
        "password": password,
        "roles": sorted(set(args.role or ())),
    }
    return operate(settings, "users", request, show_user)


def show_user(user: dict[str, Any]) -> int:
    roles = ", ".join(sorted(user["roles"])) or "no roles"
    print(f"created user {user['name']} <{user['email']}> ({roles})")
    return 0
