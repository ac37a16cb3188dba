"""Expected failures as data: the error members of every mutation's result union.

Each ``resolvers.errors`` class has one GraphQL type, all implementing the
``Error`` interface, so a client can switch on ``__typename`` or just ask
``... on Error { message }``. :func:`as_error` maps the exception to the type.
"""

from __future__ import annotations

import strawberry

from resolvers import errors


@strawberry.interface(
    description="Something the caller asked for could not be done; the message says how to fix it."
)
class Error:
    message: str = strawberry.field(description="What went wrong and how to fix it.")
    code: str = strawberry.field(
        description="A stable code: invalid, too_large, unauthenticated, forbidden, "
        "not_found, conflict, unchanged, wrong_credentials, throttled."
    )


@strawberry.type(description="An argument or uploaded file is wrong.")
class ValidationError(Error):
    field: str = strawberry.field(description="The argument, form field or uploaded file that is wrong.")


@strawberry.type(description="The action needs a signed-in caller (session cookie or API token).")
class Unauthenticated(Error):
    pass


@strawberry.type(description="The caller is known but may not do this.")
class Forbidden(Error):
    pass


@strawberry.type(description="No such thing, or the caller may not know it exists.")
class NotFound(Error):
    pass


@strawberry.type(
    description="The request clashes with existing state (duplicate name or tag, identical version, race)."
)
class Conflict(Error):
    pass


def as_error(exc: errors.WeblabError) -> Error:
    """The GraphQL error object for a resolver's exception."""
    if isinstance(exc, errors.ValidationError):
        return ValidationError(message=exc.message, code=exc.code, field=exc.field)
    if isinstance(exc, errors.Unauthenticated):
        return Unauthenticated(message=exc.message, code=exc.code)
    if isinstance(exc, errors.Forbidden):
        return Forbidden(message=exc.message, code=exc.code)
    if isinstance(exc, errors.NotFound):
        return NotFound(message=exc.message, code=exc.code)
    if isinstance(exc, errors.Conflict):
        return Conflict(message=exc.message, code=exc.code)
    raise exc


ERROR_TYPES = (ValidationError, Unauthenticated, Forbidden, NotFound, Conflict)
