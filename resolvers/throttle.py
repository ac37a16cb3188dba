"""Throttling password guesses: failed logins are counted per account name and per client address in Redis.

The counters are shared by every web server of a deployment (keys under the queue name, as the servers and
workers of one deployment share it). Each failed login (a wrong password or an unknown name) adds one to the
account's counter and to the address's; a registration refused because the name or email is taken adds one to
the address's, so probing which accounts exist is slowed down like guessing passwords. A counter is forgotten
``login_lockout_max_seconds`` after its last failure.

Once a counter reaches its limit (``login_failures_per_account``, ``login_failures_per_address``) the account
or address is locked out for ``login_lockout_seconds``, doubled at each further failure up to
``login_lockout_max_seconds``. During a lock-out every attempt is refused before its password is even
looked at, the right password included, with :class:`Throttled` (HTTP 429 with ``Retry-After``; the
``Throttled`` member of the GraphQL result). A successful login clears its account's counter, never the
address's (or one account of the attacker's own would reset it). Every lock-out is logged (``weblab.throttle``,
level warning); each attempt refused during one only at level debug, so that a flood is not a flood of lines.

An attacker can lock a victim's account out by failing on purpose: the lock-out is short at first, and that is
the usual price of per-account limits, which per-address limits alone (with attackers spread over many
addresses) do not replace. IPv6 clients are counted per /64 network, the block one subscriber usually has.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from dataclasses import dataclass
from typing import Any

from resolvers import accounts
from resolvers.errors import Conflict, WeblabError
from resolvers.services import Services

log = logging.getLogger("weblab.throttle")


class Throttled(WeblabError):
    """Too many failed attempts from this account name or client address: retry in ``retry_after`` seconds."""

    status = 429
    code = "throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; try again in {retry_after} s")
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        body["error"]["retry_after"] = self.retry_after
        return body


def client_address(scope: Any) -> str | None:
    """The client's address as the throttle counts it (an IPv6 client by its /64), from an ASGI scope or a
    Starlette request/WebSocket; None when unknown (nothing is counted for it then)."""
    scope = getattr(scope, "scope", scope)
    client = scope.get("client") if isinstance(scope, dict) else None
    if not client or not client[0]:
        return None
    try:
        ip = ipaddress.ip_address(client[0])
    except ValueError:
        return str(client[0])[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class LoginThrottle:
    redis: Any
    prefix: str
    per_account: int
    per_address: int
    lockout: int
    lockout_max: int

    @classmethod
    def of(cls, services: Services) -> LoginThrottle:
        s = services.settings
        return cls(
            redis=services.redis,
            prefix=f"{s.queue_name}:throttle",
            per_account=s.login_failures_per_account,
            per_address=s.login_failures_per_address,
            lockout=max(1, int(s.login_lockout_seconds)),
            lockout_max=max(1, int(s.login_lockout_max_seconds)),
        )

    def _key(self, what: str, scope: str, value: str) -> str:
        return f"{self.prefix}:{what}:{scope}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"

    def _scopes(self, name: str | None, address: str | None) -> list[tuple[str, str, int]]:
        scopes = []
        if name is not None:
            scopes.append(("account", name, self.per_account))
        if address is not None:
            scopes.append(("address", address, self.per_address))
        return scopes

    async def check(self, name: str | None, address: str | None, action: str = "login") -> None:
        """Raises :class:`Throttled` when the account or the address is locked out."""
        scopes = self._scopes(name, address)
        if not scopes:
            return
        pipe = self.redis.pipeline(transaction=False)
        for scope, value, _ in scopes:
            pipe.pttl(self._key("lock", scope, value))
        waits = [int(ms) for ms in await pipe.execute()]
        locked = [(scope, ms) for (scope, _, _), ms in zip(scopes, waits, strict=True) if ms > 0]
        if locked:
            retry_after = max(1, math.ceil(max(ms for _, ms in locked) / 1000))
            # debug, not warning: a flood of refused attempts must not become a flood of log lines (the
            # lockout itself is logged once, as a warning, when it starts)
            log.debug(
                "%s refused: %s locked out",
                action,
                " and ".join(s for s, _ in locked),
                extra={
                    "event": "throttled",
                    "action": action,
                    "account": name,
                    "address": address,
                    "locked": [s for s, _ in locked],
                    "retry_after": retry_after,
                },
            )
            raise Throttled(retry_after)

    async def failed(self, name: str | None, address: str | None, action: str = "login") -> None:
        """Counts a failure; locks the account or address out once its counter reaches the limit."""
        scopes = self._scopes(name, address)
        if not scopes:
            return
        pipe = self.redis.pipeline(transaction=False)
        for scope, value, _ in scopes:
            key = self._key("failures", scope, value)
            pipe.incr(key)
            pipe.expire(key, self.lockout_max)
        counts = (await pipe.execute())[::2]
        for (scope, value, limit), count in zip(scopes, counts, strict=True):
            if int(count) >= limit:
                seconds = min(self.lockout * 2 ** min(int(count) - limit, 30), self.lockout_max)
                await self.redis.set(self._key("lock", scope, value), b"1", ex=seconds)
                log.warning(
                    "%s locked out for %d s after %d failures",
                    scope,
                    seconds,
                    count,
                    extra={
                        "event": "lockout",
                        "action": action,
                        "scope": scope,
                        "account": name,
                        "address": address,
                        "failures": int(count),
                        "seconds": seconds,
                    },
                )

    async def succeeded(self, name: str) -> None:
        await self.redis.delete(self._key("failures", "account", name))


async def sign_in(services: Services, name: str, password: str, address: str | None) -> accounts.User:
    """:func:`resolvers.accounts.authenticate`, throttled per account name and client address."""
    throttle = LoginThrottle.of(services)
    await throttle.check(name, address)
    try:
        user = await accounts.authenticate(services.db, name, password)
    except accounts.AuthenticationFailed:
        await throttle.failed(name, address)
        raise
    await throttle.succeeded(name)
    return user


async def register(
    services: Services, name: str, email: str, password: str, address: str | None
) -> accounts.User:
    """:func:`resolvers.accounts.create_user`; a name or email already taken counts against the address."""
    throttle = LoginThrottle.of(services)
    await throttle.check(None, address, "registration")
    try:
        return await accounts.create_user(services.db, name, email, password)
    except Conflict:
        await throttle.failed(None, address, "registration")
        raise
