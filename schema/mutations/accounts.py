"""Accounts: register, log in and out (browser sessions, cookies as on /auth/login), API tokens.

As over HTTP, logins and registrations are throttled (a ``Throttled`` result, and ``Retry-After`` on the HTTP
response), and a login posted as anything but JSON (multipart, which a cross-site form can send) needs the
``X-CSRF-Token`` header with the ``weblab_csrf`` cookie's value (``resolvers/sessions.py``).
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from starlette.responses import Response

from resolvers import accounts, sessions, throttle
from schema.context import Info
from schema.mutations.results import attempt
from schema.types.errors import Conflict, Error, Forbidden, NotFound, Unauthenticated, ValidationError
from schema.types.users import ApiToken, Me


@strawberry.type(description="A signed-in browser session: cookies are set on the response.")
class Session:
    me: Me = strawberry.field(description="The signed-in user.")
    csrf_token: str = strawberry.field(
        description="Send it as the X-CSRF-Token header with every later POST that uses the session cookie."
    )


@strawberry.type(description="The session was ended (or there was none).")
class LoggedOut:
    ok: bool = strawberry.field(description="Always true.")


@strawberry.type(description="The token was revoked.")
class TokenRevoked:
    id: int = strawberry.field(description="The revoked token's number.")


@strawberry.type(
    description="Too many failed attempts from this account name or client address; nothing was "
    "checked. Try again after retryAfter seconds."
)
class Throttled(Error):
    retry_after: int = strawberry.field(
        description="Seconds until the lock-out ends (as the Retry-After header)."
    )


RegisterResult = Annotated[
    Me | ValidationError | Conflict | Throttled,
    strawberry.union("RegisterResult", description="The new account, or why it could not be made."),
]
LoginResult = Annotated[
    Session | ValidationError | Unauthenticated | Forbidden | Throttled,
    strawberry.union("LoginResult", description="A session, or why signing in failed."),
]
TokenResult = Annotated[
    ApiToken | ValidationError | Unauthenticated,
    strawberry.union(
        "TokenResult", description="The new API token (with its secret), or why it could not be made."
    ),
]
RevokeTokenResult = Annotated[
    TokenRevoked | NotFound | Unauthenticated,
    strawberry.union("RevokeTokenResult", description="The revoked token, or why it could not be revoked."),
]


def _throttled(info: Info, exc: throttle.Throttled) -> Throttled:
    if isinstance(info.context.response, Response):
        info.context.response.headers["Retry-After"] = str(exc.retry_after)
    return Throttled(message=exc.message, code=exc.code, retry_after=exc.retry_after)


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        description="Create an account (name, email, password of at least "
        f"{accounts.MIN_PASSWORD} characters that is not a common one and not "
        "made of the name or email)."
    )
    async def register(self, info: Info, name: str, email: str, password: str) -> RegisterResult:
        async def run() -> Me:
            user = await throttle.register(
                info.context.services, name, email, password, throttle.client_address(info.context.request)
            )
            return Me(user_record=user)

        try:
            return await attempt(run())
        except throttle.Throttled as exc:
            return _throttled(info, exc)

    @strawberry.mutation(
        description="Sign in: sets the session cookie and the CSRF cookie, like POST /auth/login."
    )
    async def login(self, info: Info, name: str, password: str) -> LoginResult:
        async def run() -> Session:
            sessions.check_login_csrf(info.context.request)
            user, session = await sessions.start_session(
                info.context.services, info.context.request, name, password
            )
            if isinstance(info.context.response, Response):
                sessions.set_session_cookies(info.context.response, session, info.context.request)
            return Session(me=Me(user_record=user), csrf_token=session.csrf_token)

        try:
            return await attempt(run())
        except throttle.Throttled as exc:
            return _throttled(info, exc)

    @strawberry.mutation(description="Sign out: ends the session and clears its cookies.")
    async def logout(self, info: Info) -> LoggedOut:
        response = info.context.response
        await sessions.end_session(
            info.context.services,
            getattr(info.context.request.state, "session_token", None),
            response if isinstance(response, Response) else None,
        )
        return LoggedOut(ok=True)

    @strawberry.mutation(description="Create an API token for programs; its secret is in this answer only.")
    async def create_token(self, info: Info, name: str) -> TokenResult:
        async def run() -> ApiToken:
            user = info.context.require_user()
            return ApiToken.of(await accounts.create_token(info.context.services.db, user, name))

        return await attempt(run())

    @strawberry.mutation(description="Revoke one of your API tokens.")
    async def revoke_token(self, info: Info, id: int) -> RevokeTokenResult:
        async def run() -> TokenRevoked:
            user = info.context.require_user()
            revoked = await accounts.revoke_token(info.context.services.db, user, id)
            await sessions.announce_revoked(info.context.services, revoked)
            return TokenRevoked(id=id)

        return await attempt(run())
