"""What can go wrong at the SPARQL endpoint, one class per answer the caller sees.

::

    SparqlError (status, message)
    ├── BadRequest            400  malformed request, syntax error (with the parser's position), SERVICE/LOAD refused
    ├── Unauthorized          401  a write without credentials
    ├── Forbidden             403  a write by a non-admin, or one touching platform-managed graphs
    ├── NotFound              404  a graph that does not exist or that the caller may not see (same answer)
    ├── NotAcceptable         406  no requested format fits the result
    ├── PayloadTooLarge       413
    ├── UnsupportedMediaType  415  a body in a media type the operation does not take
    ├── TooMuchMemory         422  the query needed more memory than a query worker may use (or nested too deeply)
    ├── TooManyRequests       429  the caller already has as many queries running and waiting as it may
    └── Unavailable           503  the deadline passed and the work was stopped

Messages never name a graph the caller did not name themselves.
"""

from __future__ import annotations


class SparqlError(Exception):
    status = 500
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(SparqlError):
    status = 400
    code = "bad_request"


class Unauthorized(SparqlError):
    status = 401
    code = "unauthenticated"


class Forbidden(SparqlError):
    status = 403
    code = "forbidden"


class NotFound(SparqlError):
    status = 404
    code = "not_found"


class NotAcceptable(SparqlError):
    status = 406
    code = "not_acceptable"


class PayloadTooLarge(SparqlError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(SparqlError):
    status = 415
    code = "unsupported_media_type"


class TooMuchMemory(SparqlError):
    """422 rather than 413 (which is about the request's own size) or 503 (which invites a retry): the request
    is well-formed, but evaluating it needs more than a query may use, and sending it again will not help."""

    status = 422
    code = "too_much_memory"


class TooManyRequests(SparqlError):
    """``retry_after``: seconds until one of the caller's queries is sure to have ended (its deadline)."""

    status = 429
    code = "too_many_queries"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(SparqlError):
    status = 503
    code = "timeout"
