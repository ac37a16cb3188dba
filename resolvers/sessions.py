"""Browser sessions: the cookies that carry them, the CSRF rule for logins, and ending them everywhere.

One owner for what both ways of signing in (``POST /auth/login`` and GraphQL's ``login``) must do the same:
the session cookie is HttpOnly, the CSRF cookie is readable by the page's script (double-submit), both are
SameSite=Lax, Secure over https, and live as long as the session. A login that is not JSON (a form, which a
cross-site page can post) must carry the CSRF cookie's value. Ending a session or revoking a token is
announced on Redis, so that every web server of the deployment closes the WebSockets opened with it.
"""

from __future__ import annotations

import hmac
import logging

from starlette.requests import HTTPConnection
from starlette.responses import Response

from resolvers import accounts, throttle
from resolvers.errors import Forbidden
from resolvers.services import Services

log = logging.getLogger(__name__)

SESSION_COOKIE = "weblab_session"
CSRF_COOKIE = "weblab_csrf"


class CsrfRefused(Forbidden):
    code = "csrf"


def is_json(connection: HTTPConnection) -> bool:
    return connection.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


def check_login_csrf(connection: HTTPConnection, form_token: str | None = None) -> None:
    """Refuses (:class:`CsrfRefused`) a login a cross-site page could have sent: one that is not JSON and does
    not carry the ``weblab_csrf`` cookie's value as ``X-CSRF-Token`` or as the form's ``csrf_token``."""
    if connection.scope["type"] != "http" or is_json(connection):
        return
    cookie = connection.cookies.get(CSRF_COOKIE, "")
    sent = connection.headers.get("x-csrf-token") or form_token or ""
    if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise CsrfRefused(
            "a login from a form needs the csrf_token field (the weblab_csrf cookie's value, "
            "which the login page sets); programs send JSON instead"
        )


async def start_session(
    services: Services, connection: HTTPConnection, name: str, password: str
) -> tuple[accounts.User, accounts.Session]:
    """Sign in for a browser, after :func:`check_login_csrf` (which comes before the body is even read): the
    throttled password check, then a new session. Raises :class:`throttle.Throttled` or the check's error."""
    user = await throttle.sign_in(services, name, password, throttle.client_address(connection))
    return user, await accounts.create_session(services.db, user)


def set_session_cookies(response: Response, session: accounts.Session, connection: HTTPConnection) -> None:
    secure = connection.url.scheme == "https"
    max_age = int(accounts.SESSION_LIFETIME.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, session.token, max_age=max_age, httponly=True, samesite="lax", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE, session.csrf_token, max_age=max_age, httponly=False, samesite="lax", secure=secure
    )


async def end_session(services: Services, token: str | None, response: Response | None) -> None:
    """Sign out: the session (if any) ends here and on every web server, and its cookies are cleared."""
    if token:
        await accounts.end_session(services.db, token)
        await announce_revoked(services, accounts.digest(token))
    if response is not None:
        response.delete_cookie(SESSION_COOKIE)
        response.delete_cookie(CSRF_COOKIE)


def revocation_channel(services: Services) -> str:
    """The Redis channel on which every web server of the deployment hears of revoked credentials."""
    return f"{services.settings.queue_name}:revoked"


async def announce_revoked(services: Services, secret_digest: bytes) -> None:
    """Tells every web server that the token or session with this digest no longer authenticates, so that they
    close the WebSockets opened with it (which re-check it themselves too: a lost message only delays that)."""
    try:
        await services.redis.publish(revocation_channel(services), secret_digest.hex())
    except Exception as exc:  # noqa: BLE001 - Redis down: the sockets' own checks still close them
        log.warning("could not announce a revoked credential: %s", exc)
