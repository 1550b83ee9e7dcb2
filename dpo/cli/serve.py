"""`dpo serve`: the dashboard API on uvicorn."""

import logging
import os
import shutil
import tempfile
from typing import Annotated, Any

import typer

from dpo.cli.logs import JsonFormatter


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1: this machine).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port (default 8000; 0: any free one).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes (default 1).")
    ] = None,
) -> None:
    """Serve the JSON API (docs at /docs): KPIs, charts, insights, goals; token required."""
    from dpo.api.app import create_app
    from dpo.config import config_path
    from dpo.settings import get_settings
    from dpo.storage.db import ready_engine

    api = get_settings().api
    host = host or api.host
    port = api.port if port is None else port
    workers = workers or api.workers
    _check_address(host, port)
    ready_engine()  # a database that is down or not initialised: exit 3 now, not per request
    create_app()  # bad `[api]` settings (a missing JWT secret…): exit 3 now, with one line
    path, explicit = config_path()
    if explicit:
        os.environ["DPO_CONFIG"] = str(path)  # worker processes read the same file
    metrics_dir = _share_metrics() if workers > 1 else None
    import uvicorn

    try:
        uvicorn.run(
            "dpo.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,  # dpo logs each request itself, without the query string
            log_config=_log_config(),
            server_header=False,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_address(host: str, port: int) -> None:
    """Exit with one line now, not with uvicorn's log, when `host` is no address to listen on
    (exit 2) or `host:port` cannot be bound (in use, not this machine's: exit 3)."""
    import socket

    from dpo.errors import ConfigError, InvalidInputError

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        why = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise InvalidInputError(
            f"cannot listen on {host!r}: not an address or host name ({why})",
            hint="use an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
        ) from None
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _share_metrics() -> str | None:
    """Workers count requests in one directory, summed when /metrics is scraped."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return None  # the operator's own directory: not ours to delete
    path = tempfile.mkdtemp(prefix="dpo-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def _log_config() -> dict[str, Any]:
    """dpo's logging (format and level from --log-format/-v/--debug) for every worker, plus
    one line per request and uvicorn's start-up lines."""
    is_json = any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)
    formatter: dict[str, Any] = (
        {"()": "dpo.cli.logs.JsonFormatter"}
        if is_json
        else {"()": "dpo.cli.logs.TextFormatter", "fmt": "%(levelname)s %(name)s: %(message)s"}
    )
    level = logging.getLogger("dpo").getEffectiveLevel()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"dpo": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "dpo",
            }
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "dpo": {"level": logging.getLevelName(level)},
            "dpo.api.requests": {"level": logging.getLevelName(min(level, logging.INFO))},
            "uvicorn.error": {"level": "INFO"},
        },
    }
