"""Accounts: users, passwords, API tokens and browser sessions.

Passwords are hashed with argon2; API tokens and session tokens are random
secrets of which only a SHA-256 digest is stored, so a database leak gives no
working credential. A wrong password and an unknown user get the same answer, after the same work (an unknown
user's password is verified against a dummy hash).

Hashing and verifying run on a small thread pool of their own, off the event loop: one argon2
verification takes about 0.1 s of CPU (and up to four threads), so on the loop a few parallel logins
would stall every other request. The pool has half the process's cores (at least one), so logins queue
behind each other instead of taking every core. Throttling of failed logins is in :mod:`resolvers.throttle`.

Passwords chosen at registration (HTTP, GraphQL and ``weblab user add``, all through :func:`create_user`)
follow :func:`check_password`: at least ``MIN_PASSWORD`` characters, not one of the common passwords in
``resolvers/common-passwords.txt`` (see ``common-passwords.LICENSE``), and not made of the user name or
email.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from resolvers.errors import Conflict, NotFound, Unauthenticated, ValidationError

ROLES = frozenset({"admin", "moderator"})
SESSION_LIFETIME = timedelta(days=14)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1000
_hasher = PasswordHasher()
# Verified against when the user does not exist, so both paths cost one argon2 check.
_DUMMY_HASH = _hasher.hash("not a password")
HASH_THREADS = max(1, len(os.sched_getaffinity(0)) // 2) if hasattr(os, "sched_getaffinity") else 1
_hashing = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")
_COMMON_FILE = Path(__file__).with_name("common-passwords.txt")
_T = TypeVar("_T")


async def _off_loop(call: Callable[..., _T], *args: str) -> _T:
    """Runs an argon2 call on the hashing pool (never more at once than it has threads)."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, call, *args)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The common passwords (lower case) refused at registration."""
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip())


def check_password(password: str, name: str = "", email: str = "") -> None:
    """Refuses a weak password with a ValidationError naming the rule it breaks."""
    if len(password) < MIN_PASSWORD:
        raise ValidationError("password", f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValidationError("password", f"a password has at most {MAX_PASSWORD} characters")
    lowered = password.casefold()
    # "Password123!" is "password" with a common ending: refused like the word itself
    stem = lowered.rstrip("0123456789!?.@#$%&*_-+= ")
    common = common_passwords()
    if lowered in common or stem in common:
        raise ValidationError(
            "password", "this is one of the most common passwords; choose another, e.g. a few unrelated words"
        )
    if len(set(lowered)) < 3:
        raise ValidationError("password", "a password needs more than two different characters")
    rest = lowered
    owns = {email.casefold(), email.partition("@")[0].casefold(), name.casefold()}
    for own in sorted(owns, key=len, reverse=True):
        if len(own) >= 3:
            rest = rest.replace(own, "")
    if rest != lowered and len(rest) < MIN_PASSWORD:
        raise ValidationError("password", "a password must not be made of your user name or email address")


class AuthenticationFailed(Unauthenticated):
    """Wrong user name or password; never says which."""

    code = "wrong_credentials"

    def __init__(self, message: str = "wrong user name or password") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class User:
    id: int
    name: str
    email: str
    roles: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_moderator(self) -> bool:
        return "moderator" in self.roles or self.is_admin


@dataclass(frozen=True)
class Session:
    token: str
    csrf_token: str
    expires_at: datetime


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _user(row: tuple[Any, ...]) -> User:
    return User(id=row[0], name=row[1], email=row[2], roles=frozenset(row[3] or ()))


def validate_registration(name: str, email: str, password: str, roles: frozenset[str]) -> None:
    if not _NAME.fullmatch(name or ""):
        raise ValidationError(
            "name", "a user name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if not _EMAIL.match(email or ""):
        raise ValidationError("email", f"{email!r} is not an email address")
    check_password(password or "", name, email)
    if unknown := roles - ROLES:
        raise ValidationError(
            "roles", f"unknown role(s) {', '.join(sorted(unknown))}; roles are admin, moderator"
        )


async def create_user(
    db: AsyncConnectionPool, name: str, email: str, password: str, roles: frozenset[str] = frozenset()
) -> User:
    validate_registration(name, email, password, roles)
    password_hash = await _off_loop(_hasher.hash, password)
    try:
        async with db.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO users (name, email, password_hash, roles) VALUES (%s, %s, %s, %s)"
                " RETURNING id, name, email, roles",
                (name, email, password_hash, sorted(roles)),
            )
            row = await cur.fetchone()
    except pg_errors.UniqueViolation as exc:
        field = "email" if "email" in str(exc) else "name"
        raise Conflict(f"a user with this {field} already exists") from exc
    assert row is not None
    return _user(row)


def _could_exist(name: str) -> bool:
    """Whether ``name`` is a possible account name; others (a NUL byte, which PostgreSQL text refuses) are
    not looked up at all."""
    return bool(_NAME.fullmatch(name or ""))


async def get_user(db: AsyncConnectionPool, name: str) -> User:
    row = None
    if _could_exist(name):
        async with db.connection() as conn:
            cur = await conn.execute("SELECT id, name, email, roles FROM users WHERE name = %s", (name,))
            row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no user named {name!r}")
    return _user(row)


async def users_by_id(db: AsyncConnectionPool, ids: list[int]) -> dict[int, User]:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT id, name, email, roles FROM users WHERE id = ANY(%s)", (ids,))
        return {row[0]: _user(row) for row in await cur.fetchall()}


async def authenticate(db: AsyncConnectionPool, name: str, password: str) -> User:
    row = None
    if _could_exist(name):
        async with db.connection() as conn:
            cur = await conn.execute(
                "SELECT id, name, email, roles, password_hash FROM users WHERE name = %s", (name,)
            )
            row = await cur.fetchone()
    stored = row[4] if row else _DUMMY_HASH
    try:
        await _off_loop(_hasher.verify, stored, password or "")
    except (VerificationError, InvalidHashError):
        raise AuthenticationFailed() from None
    if row is None:
        raise AuthenticationFailed()
    return _user(row)


async def set_roles(db: AsyncConnectionPool, name: str, roles: frozenset[str]) -> User:
    if unknown := roles - ROLES:
        raise ValidationError("roles", f"unknown role(s) {', '.join(sorted(unknown))}")
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE users SET roles = %s WHERE name = %s RETURNING id, name, email, roles",
            (sorted(roles), name),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no user named {name!r}")
    return _user(row)


# --- API tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = None  # only when just created


async def create_token(db: AsyncConnectionPool, user: User, name: str) -> ApiToken:
    if not name or len(name) > 100 or not name.isprintable():
        raise ValidationError("name", "a token needs a name of 1-100 printable characters")
    secret = "wl_" + secrets.token_urlsafe(32)
    async with db.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO api_tokens (user_id, name, token_hash) VALUES (%s, %s, %s) RETURNING id, created_at",
            (user.id, name, digest(secret)),
        )
        row = await cur.fetchone()
    assert row is not None
    return ApiToken(id=row[0], name=name, created_at=row[1], revoked_at=None, secret=secret)


async def list_tokens(db: AsyncConnectionPool, user: User) -> list[ApiToken]:
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT id, name, created_at, revoked_at FROM api_tokens WHERE user_id = %s ORDER BY id",
            (user.id,),
        )
        return [ApiToken(*row) for row in await cur.fetchall()]


async def revoke_token(db: AsyncConnectionPool, user: User, token_id: int) -> bytes:
    """Revokes one of the user's tokens; returns its digest (to tell open WebSockets, see ``web/auth.py``)."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s AND user_id = %s"
            " RETURNING token_hash",
            (token_id, user.id),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no token {token_id} of yours")
    return bytes(row[0])


async def user_for_token(db: AsyncConnectionPool, secret: str) -> User | None:
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE api_tokens t SET last_used_at = now() FROM users u"
            " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.id = t.user_id"
            " RETURNING u.id, u.name, u.email, u.roles",
            (digest(secret),),
        )
        row = await cur.fetchone()
    return _user(row) if row else None


async def credential_active(
    db: AsyncConnectionPool, kind: Literal["token", "session"], secret_digest: bytes
) -> bool:
    """Whether the API token or session with this digest still authenticates (not revoked, ended or expired)."""
    query = (
        "SELECT 1 FROM api_tokens WHERE token_hash = %s AND revoked_at IS NULL"
        if kind == "token"
        else "SELECT 1 FROM sessions WHERE token_hash = %s AND expires_at > now()"
    )
    async with db.connection() as conn:
        cur = await conn.execute(query, (secret_digest,))
        return await cur.fetchone() is not None


# --- browser sessions -------------------------------------------------------------------------


async def create_session(db: AsyncConnectionPool, user: User) -> Session:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = datetime.now(UTC) + SESSION_LIFETIME
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO sessions (user_id, token_hash, csrf_token, expires_at) VALUES (%s, %s, %s, %s)",
            (user.id, digest(token), csrf, expires),
        )
    return Session(token=token, csrf_token=csrf, expires_at=expires)


async def session_user(db: AsyncConnectionPool, token: str) -> tuple[User, str] | None:
    """The session's user and its CSRF token, when the session exists and has not expired."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT u.id, u.name, u.email, u.roles, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.token_hash = %s AND s.expires_at > now()",
            (digest(token),),
        )
        row = await cur.fetchone()
    return (_user(row[:4]), row[4]) if row else None


async def end_session(db: AsyncConnectionPool, token: str) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "DELETE FROM sessions WHERE token_hash = %s OR expires_at < now()", (digest(token),)
        )
