"""The dashboard page at `/` and its static files (no token needed to load them; the page asks
for one and sends it to the API, never in a URL)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from dpo.web import STATIC

router = APIRouter(include_in_schema=False)

# The page runs only its own script and talks only to this server.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}


@router.get("/")
def index() -> FileResponse:
    """The dashboard page."""
    return FileResponse(STATIC / "index.html", headers=HEADERS)


def static_files() -> StaticFiles:
    """The page's CSS and JavaScript, shipped inside the package."""
    return StaticFiles(directory=STATIC)
