"""The failures a user can cause, one class each, with the HTTP status they map to.

Resolvers raise these; HTTP routes turn them into one JSON shape
(:meth:`WeblabError.to_json`), GraphQL turns them into error union members.
Anything else escaping a resolver is a bug, not a user error.

::

    WeblabError (500)
    ├── ValidationError (400)        a field or uploaded file is wrong; says which and why
    │   └── UploadTooLarge (413)     an upload or its unpacked archive is over a size limit
    ├── Unauthenticated (401)        the action needs a signed-in caller
    ├── Forbidden (403)              the caller is known but may not do this
    ├── NotFound (404)               no such thing, or the caller may not know it exists
    └── Conflict (409)               clashes with existing state (duplicate name, concurrent write)
        └── NothingChanged (409)     a new version would be identical to the latest one
"""

from __future__ import annotations

from typing import Any


class WeblabError(Exception):
    """Base of every user-facing failure: an HTTP status, a stable code and a message saying how to fix it."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, Any]:
        """The one JSON error shape of the HTTP API: ``{"error": {"code", "message", ...}}``."""
        return {"error": {"code": self.code, "message": self.message}}


class ValidationError(WeblabError):
    """Bad input: ``field`` names the form field, argument or uploaded file that is wrong."""

    status = 400
    code = "invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        body["error"]["field"] = self.field
        return body


class UploadTooLarge(ValidationError):
    """An uploaded file, or the uncompressed content of an uploaded archive, exceeds a configured limit."""

    status = 413
    code = "too_large"


class Unauthenticated(WeblabError):
    status = 401
    code = "unauthenticated"

    def __init__(self, message: str = "sign in (or pass an API token) to do this") -> None:
        super().__init__(message)


class Forbidden(WeblabError):
    status = 403
    code = "forbidden"


class NotFound(WeblabError):
    status = 404
    code = "not_found"


class Conflict(WeblabError):
    status = 409
    code = "conflict"


class NothingChanged(Conflict):
    """A new version would hold exactly the files of the latest one; no version is added."""

    code = "unchanged"
