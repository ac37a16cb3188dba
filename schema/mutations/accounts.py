"""Accounts: register, log in and out (browser sessions, cookies as on /auth/login), API tokens."""

from __future__ import annotations

from typing import Annotated

import strawberry
from starlette.responses import Response

from resolvers import accounts
from schema.context import Info
from schema.mutations.results import attempt
from schema.types.errors import Conflict, NotFound, Unauthenticated, ValidationError
from schema.types.users import ApiToken, Me
from web.auth import CSRF_COOKIE, SESSION_COOKIE


@strawberry.type(description="A signed-in browser session: cookies are set on the response.")
class Session:
    me: Me = strawberry.field(description="The signed-in user.")
    csrf_token: str = strawberry.field(
        description="Send it as the X-CSRF-Token header with every later POST that uses the session cookie.")


@strawberry.type(description="The session was ended (or there was none).")
class LoggedOut:
    ok: bool = strawberry.field(description="Always true.")


@strawberry.type(description="The token was revoked.")
class TokenRevoked:
    id: int = strawberry.field(description="The revoked token's number.")


RegisterResult = Annotated[Me | ValidationError | Conflict, strawberry.union("RegisterResult", description="The new account, or why it could not be made.")]
LoginResult = Annotated[Session | ValidationError | Unauthenticated, strawberry.union("LoginResult", description="A session, or why signing in failed.")]
TokenResult = Annotated[ApiToken | ValidationError | Unauthenticated, strawberry.union("TokenResult", description="The new API token (with its secret), or why it could not be made.")]
RevokeTokenResult = Annotated[TokenRevoked | NotFound | Unauthenticated, strawberry.union("RevokeTokenResult", description="The revoked token, or why it could not be revoked.")]


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Create an account (name, email, password of at least 8 characters).")
    async def register(self, info: Info, name: str, email: str, password: str) -> RegisterResult:
        async def run() -> Me:
            user = await accounts.create_user(info.context.services.db, name, email, password)
            return Me(user_record=user)

        return await attempt(run())

    @strawberry.mutation(description="Sign in: sets the session cookie and the CSRF cookie, like POST /auth/login.")
    async def login(self, info: Info, name: str, password: str) -> LoginResult:
        async def run() -> Session:
            db = info.context.services.db
            user = await accounts.authenticate(db, name, password)
            session = await accounts.create_session(db, user)
            response = info.context.response
            if isinstance(response, Response):
                secure = info.context.request.url.scheme == "https"
                max_age = int(accounts.SESSION_LIFETIME.total_seconds())
                response.set_cookie(SESSION_COOKIE, session.token, max_age=max_age, httponly=True, samesite="lax",
                                    secure=secure)
                response.set_cookie(CSRF_COOKIE, session.csrf_token, max_age=max_age, httponly=False,
                                    samesite="lax", secure=secure)
            return Session(me=Me(user_record=user), csrf_token=session.csrf_token)

        return await attempt(run())

    @strawberry.mutation(description="Sign out: ends the session and clears its cookies.")
    async def logout(self, info: Info) -> LoggedOut:
        token = getattr(info.context.request.state, "session_token", None)
        if token:
            await accounts.end_session(info.context.services.db, token)
        response = info.context.response
        if isinstance(response, Response):
            response.delete_cookie(SESSION_COOKIE)
            response.delete_cookie(CSRF_COOKIE)
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
            await accounts.revoke_token(info.context.services.db, user, id)
            return TokenRevoked(id=id)

        return await attempt(run())
