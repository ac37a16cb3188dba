"""The HTML pages people use: server-rendered shells that small ES modules fill from ``/graphql``.

Each page is one Jinja2 template under ``web/templates`` and at most one
module under ``web/static/js/pages``; there is no build step. The server puts
only what it knows without a query into the HTML (who is signed in, the
identifiers in the URL), so a page is sent in milliseconds and its script asks
GraphQL for the rest in one request.

Resource URIs (``/models/{id}``, ``/runs/{id}``, ...) belong to the linked-data
routes, which answer browsers with a plain description page. The pages people
work in live beside them, under ``/view/...``, so the two never compete for a
path. Static files (ours and the vendored libraries) are served from
``/static``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

WEB = Path(__file__).resolve().parents[1]
TEMPLATES = Jinja2Templates(directory=str(WEB / "templates"))
STATIC_DIR = WEB / "static"

# Path segment → what the page calls the kind; the segment is also the resource URI's.
KINDS = {"models": "model", "protocols": "protocol", "datasets": "dataset"}


def view_url(uri: str, base_uri: str) -> str:
    """The page for a resource URI: ``{BASE}models/x`` → ``/view/models/x``; other URIs are returned as they are."""
    base = base_uri.rstrip("/") + "/"
    if uri.startswith(base):
        return "/view/" + uri[len(base) :]
    return uri


def _render(request: Request, template: str, title: str, status_code: int = 200, **context: Any) -> Response:
    user = request.state.user
    settings = request.app.state.settings
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "title": title,
            "user": user,
            "is_moderator": bool(user and user.is_moderator),
            "base_uri": settings.base_uri,
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def _signed_in(request: Request) -> Response | None:
    """A redirect to the login page (returning here afterwards) when nobody is signed in."""
    if request.state.user is not None:
        return None
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={target}", status_code=303)


async def home(request: Request) -> Response:
    return _render(request, "home.html", "Weblab")


async def entity_list(request: Request) -> Response:
    segment = request.url.path.strip("/")
    kind = KINDS[segment]
    return _render(
        request,
        "list.html",
        f"{kind.capitalize()}s",
        kind=kind,
        segment=segment,
        owner=request.query_params.get("owner", ""),
        visibility=request.query_params.get("visibility", ""),
        term=request.query_params.get("term", ""),
        text=request.query_params.get("q", ""),
        deleted=request.query_params.get("deleted", ""),
    )  # the entity page sends here after a delete


async def entity_page(request: Request) -> Response:
    segment = request.path_params["segment"]
    if segment not in KINDS:
        return _not_found(request, f"there is no kind of entity called {segment!r}")
    entity_id = request.path_params["entity_id"]
    uri = request.app.state.settings.uri(f"{segment}/{entity_id}")
    version = request.path_params.get("ref") or request.query_params.get("version", "latest")
    return _render(
        request,
        "entity.html",
        entity_id,
        kind=KINDS[segment],
        segment=segment,
        entity_id=entity_id,
        entity_uri=uri,
        version=version,
    )


async def upload(request: Request) -> Response:
    if (redirect := _signed_in(request)) is not None:
        return redirect
    kind = request.query_params.get("kind", "model")
    if kind not in KINDS.values():
        kind = "model"
    return _render(
        request, "upload.html", "Upload", kind=kind, entity_uri=request.query_params.get("entity", "")
    )


async def matrix(request: Request) -> Response:
    return _render(request, "matrix.html", "Experiments", subset=request.query_params.get("subset", "public"))


async def run_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    uri = request.app.state.settings.uri(f"runs/{run_id}")
    return _render(request, "run.html", "Run", run_id=run_id, run_uri=uri)


async def experiment_page(request: Request) -> Response:
    experiment_id = request.path_params["experiment_id"]
    uri = request.app.state.settings.uri(f"experiments/{experiment_id}")
    return _render(request, "experiment.html", "Experiment", experiment_id=experiment_id, experiment_uri=uri)


async def compare(request: Request) -> Response:
    runs = [r for r in request.query_params.get("runs", "").split(",") if r]
    return _render(request, "compare.html", "Compare runs", runs=runs)


async def login(request: Request) -> Response:
    return _render(request, "login.html", "Sign in", next=_safe_next(request.query_params.get("next", "/")))


async def register(request: Request) -> Response:
    return _render(
        request, "register.html", "Register", next=_safe_next(request.query_params.get("next", "/"))
    )


async def account(request: Request) -> Response:
    if (redirect := _signed_in(request)) is not None:
        return redirect
    return _render(request, "account.html", "Your account")


async def moderation(request: Request) -> Response:
    if (redirect := _signed_in(request)) is not None:
        return redirect
    if not request.state.user.is_moderator:
        return _render(
            request,
            "message.html",
            "Moderation",
            status_code=403,
            heading="Moderators only",
            message="Only moderators and admins can moderate versions.",
        )
    return _render(request, "moderation.html", "Moderation")


def _safe_next(target: str) -> str:
    """Only same-site paths: a login link must not bounce the user to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _not_found(request: Request, message: str) -> Response:
    return _render(
        request, "message.html", "Not found", status_code=404, heading="Not found", message=message
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/models", entity_list, methods=["GET"]),
        Route("/protocols", entity_list, methods=["GET"]),
        Route("/datasets", entity_list, methods=["GET"]),
        Route("/view/runs/{run_id}", run_page, methods=["GET"]),
        Route("/view/experiments/{experiment_id}", experiment_page, methods=["GET"]),
        Route("/view/{segment}/{entity_id}", entity_page, methods=["GET"]),
        Route("/view/{segment}/{entity_id}/versions/{ref}", entity_page, methods=["GET"]),
        Route("/upload", upload, methods=["GET"]),
        Route("/experiments", matrix, methods=["GET"]),
        Route("/compare", compare, methods=["GET"]),
        Route("/login", login, methods=["GET"]),
        Route("/register", register, methods=["GET"]),
        Route("/account", account, methods=["GET"]),
        Route("/moderation", moderation, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
