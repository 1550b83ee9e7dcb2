"""`/docs`: Swagger UI over `/openapi.json`, its assets served from this server.

FastAPI's default page loads Swagger UI from a CDN, which a server without internet access (or a
browser behind a strict proxy) cannot reach; the `fastapi-offline` package ships the same files
(Swagger UI 5, which reads the OpenAPI 3.1 FastAPI writes).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)

ASSETS = "/docs-assets"


@router.get("/docs")
def docs() -> HTMLResponse:
    """The API's interactive documentation."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="dpo API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
    )


def assets() -> StaticFiles:
    """Swagger UI's JavaScript, CSS and icons."""
    from importlib.resources import files

    return StaticFiles(directory=str(files("fastapi_offline") / "static"))
