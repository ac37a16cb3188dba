"""People: ``User`` (what anyone may know of a user) and ``Me`` (the caller's own account)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers import accounts
from resolvers.metadata import Kind, user_uri
from schema.context import Info
from schema.types.enums import KindEnum
from schema.types.node import Node, node_id
from schema.types.pagination import Connection

if TYPE_CHECKING:
    from schema.types.entities import Entity


@strawberry.type(description="A Weblab user, as anyone may see them: their name and public work.")
class User(Node):
    name: str = strawberry.field(description="The user name (unique).")

    @classmethod
    def named(cls, info: Info, name: str) -> User:
        built = info.context.loaders.objects
        if (found := built.get(("User", name))) is None:
            uri = user_uri(info.context.settings.base_uri, name)
            found = built[("User", name)] = cls(
                id=strawberry.ID(node_id(info.context.settings.base_uri, uri)), uri=uri, name=name
            )
        return found

    @strawberry.field(description="Entities this user owns that you may see, newest first.")
    async def entities(
        self,
        info: Info,
        kind: KindEnum | None = None,
        text: str | None = None,
        term: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Annotated[Entity, strawberry.lazy("schema.types.entities")]]:
        from schema.types.entities import entity_connection

        return await entity_connection(
            info,
            kinds=[kind] if kind else list(Kind),
            owner=self.name,
            text=text,
            term=term,
            first=first,
            after=after,
            last=last,
            before=before,
        )


@strawberry.type(description="An API token; its secret is shown once, when it is created.")
class ApiToken:
    id: int = strawberry.field(description="Number of the token (to revoke it).")
    name: str = strawberry.field(description="What the owner called it.")
    created_at: datetime = strawberry.field(description="When it was created.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked (null: still valid).")
    secret: str | None = strawberry.field(
        description="The token to send as `Authorization: Bearer …`; only in the createToken answer."
    )

    @classmethod
    def of(cls, t: accounts.ApiToken) -> ApiToken:
        return cls(id=t.id, name=t.name, created_at=t.created_at, revoked_at=t.revoked_at, secret=t.secret)


@strawberry.type(description="The signed-in caller's own account.")
class Me:
    user_record: strawberry.Private[accounts.User]

    @strawberry.field(description="The caller as other users see them.")
    def user(self, info: Info) -> User:
        return User.named(info, self.user_record.name)

    @strawberry.field(description="The user name.")
    def name(self) -> str:
        return self.user_record.name

    @strawberry.field(description="The email address (only ever shown to its owner).")
    def email(self) -> str:
        return self.user_record.email

    @strawberry.field(description="Roles: admin, moderator.")
    def roles(self) -> list[str]:
        return sorted(self.user_record.roles)

    @strawberry.field(description="The caller's API tokens, revoked ones included.")
    async def tokens(self, info: Info) -> list[ApiToken]:
        return [
            ApiToken.of(t) for t in await accounts.list_tokens(info.context.services.db, self.user_record)
        ]
