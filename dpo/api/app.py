"""The FastAPI application factory (`uvicorn --factory dpo.api.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from dpo import __version__
from dpo.api import errors
from dpo.api.access import AccessCache
from dpo.api.background import BackgroundJobs
from dpo.api.cache import ResponseCache
from dpo.api.deps import ApiConfig
from dpo.api.events import VersionWatch
from dpo.api.metrics import Metrics
from dpo.api.middleware import RequestMiddleware
from dpo.api.routes import (
    analytics,
    docs,
    events,
    goals,
    health,
    jobs,
    metrics,
    organizations,
    page,
    sync,
)
from dpo.errors import ConfigError
from dpo.resources.sources import resolve_secret
from dpo.settings import ApiSettings, get_settings

MIN_JWT_SECRET = 32  # HS256 with a shorter secret can be brute-forced offline

DESCRIPTION = """
The dpo dashboard API: KPIs, charts, channels, insights and goals of your organizations.

Every route but `/health` needs `Authorization: Bearer <token>` (`dpo tokens create --org ORG` or
`--admin`). A token of one organization sees only that organization: anything of another is
answered like something that does not exist (404). Errors are `{"detail": …}`.
"""


def load_config(api: ApiSettings) -> ApiConfig:
    """The app's configuration from the `[api]` settings, with the JWT secret read."""
    if api.jwt_secret_env and api.jwt_secret_file:
        raise ConfigError("set api.jwt_secret_env or api.jwt_secret_file, not both")
    ref = None
    if api.jwt_secret_env:
        ref = f"env:{api.jwt_secret_env}"
    elif api.jwt_secret_file:
        ref = f"file:{api.jwt_secret_file.expanduser()}"
    key = resolve_secret(ref)
    if key is not None and len(key) < MIN_JWT_SECRET:
        raise ConfigError(f"the JWT secret must have at least {MIN_JWT_SECRET} characters")
    return ApiConfig(
        jwt_key=key,
        jwt_audience=api.jwt_audience,
        cors_origins=tuple(api.cors_origins),
        max_body_bytes=api.max_body_bytes,
        request_seconds=api.request_seconds,
        events_poll_seconds=api.events_poll_seconds,
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    # Let syncs started through the API reach their end (they have a time budget).
    await run_in_threadpool(app.state.jobs.join)


def create_app(config: ApiConfig | None = None) -> FastAPI:
    """A new API app; `config` defaults to the `[api]` settings."""
    config = config or load_config(get_settings().api)
    app = FastAPI(
        title="dpo",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served by `routes.docs`, without a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_lifespan,
    )
    app.state.config = config
    app.state.metrics = Metrics()
    app.state.jobs = BackgroundJobs()
    app.state.cache = ResponseCache()
    app.state.access = AccessCache()
    app.state.events = VersionWatch(config.events_poll_seconds)
    errors.install(app)
    for module in (
        health,
        metrics,
        organizations,
        analytics,
        goals,
        sync,
        jobs,
        events,
        page,
        docs,
    ):
        app.include_router(module.router)
    app.mount("/static", page.static_files(), name="static")
    app.mount(docs.ASSETS, docs.assets(), name="docs-assets")
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    # Added last, so outermost: it sees (and counts) every answer, CORS preflights included.
    app.add_middleware(
        RequestMiddleware, metrics=app.state.metrics, max_body_bytes=config.max_body_bytes
    )
    return app
