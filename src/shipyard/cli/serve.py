"""`shipyard serve` and `shipyard worker`: the two long-running processes."""

from __future__ import annotations

import gc
import signal
import threading

import structlog
import typer
import uvicorn

from shipyard.api import create_app
from shipyard.cli.context import SchemaOutdated, cli_services, prepare_store
from shipyard.cli.output import errors_as_messages
from shipyard.platform import Platform, build_platform
from shipyard.settings import Settings, get_settings
from shipyard.telemetry import configure_logging

log = structlog.get_logger(__name__)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for every one)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    worker: bool | None = typer.Option(
        None,
        "--worker/--no-worker",
        help="Run a job worker in this process (default: SHIPYARD_WORKER_IN_PROCESS).",
    ),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        "--forwarded-allow-ips",
        help="Proxies (comma-separated addresses, or *) whose X-Forwarded-For is trusted as the client's "
        "address, which rate limits of invalid keys count by (default: $FORWARDED_ALLOW_IPS or 127.0.0.1).",
    ),
) -> None:
    """Serve the API (and, by default, run a job worker in the same process)."""
    with errors_as_messages():
        settings = _settings(worker)
        configure_logging(settings.process.log_level, settings.process.log_format)
        services = build_platform(settings)
        _migrate_or_warn(services)
    server = build_server(services, host, port, forwarded_allow_ips)
    # Everything built so far lives as long as the process: keep it out of the cyclic GC's full
    # collections, which otherwise walk the whole FastAPI/pydantic heap (p99 11 → 5 ms in
    # bench/api_overhead.py). Done here, by the process owner, not by create_app().
    gc.freeze()
    server.run()
    if not server.started:
        raise typer.Exit(1)


def build_server(services: Platform, host: str, port: int, forwarded_allow_ips: str | None = None) -> uvicorn.Server:
    """A uvicorn server for the app; SIGTERM stops accepting, drains, then runs the lifespan exit."""
    config = uvicorn.Config(
        create_app(services.settings, services),
        host=host,
        port=port,
        log_config=None,
        # Our middleware writes the request log and metrics; uvicorn's access log would be a copy.
        access_log=False,
        timeout_graceful_shutdown=int(services.settings.process.shutdown_grace_seconds) or None,
        server_header=False,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    return uvicorn.Server(config)


def _migrate_or_warn(services: Platform) -> None:
    try:
        prepare_store(services)
    except SchemaOutdated as exc:
        # Production: replicas serve (and say "not ready" on /readyz) until an operator migrates.
        log.warning("schema_outdated", message=exc.message)


def worker(
    concurrency: int | None = typer.Option(None, "--concurrency", min=1, help="Jobs run at once."),
) -> None:
    """Run a job worker (as many as you like, on as many machines as you like)."""
    with errors_as_messages():
        settings = get_settings()
    if concurrency is not None:
        settings = settings.replace(worker_concurrency=concurrency)
    configure_logging(settings.process.log_level, settings.process.log_format)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with errors_as_messages(), cli_services(settings, worker=True):
        stop.wait()
        log.info("worker_stopping")


def _settings(worker: bool | None) -> Settings:
    settings = get_settings()
    if worker is not None:
        settings = settings.replace(worker_in_process=worker)
    return settings
