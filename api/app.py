"""create_app(settings): the FastAPI application for one log and its registry."""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from starlette.types import Receive, Scope, Send

from api.errors import install_error_handlers
from api.limits import BodySizeLimit, LimitedRoutes, RateLimit, TokenBuckets
from api.logs import log_format_from_env
from api.metrics import Metrics, count_pushes
from api.observe import Observe
from api.origin_reports import OriginReports
from api.routers import (
    c2pa,
    clusters,
    docs,
    health,
    log,
    lookup,
    origins_page,
    registry,
    softbinding,
    status,
    tiles,
    verify_page,
    web,
)
from api.settings import ApiSettings
from api.state import AppState
from ledger import LedgerError, LogConfig
from ledger.witnessing import WitnessLoop, WitnessPusher, parse_witnesses
from registry import RegistrySettings, open_registry
from registry.imaging.gate import DecodeGate
from registry.lookup.query import Lookup

ROUTERS = (
    health, tiles, status, log, registry, c2pa, lookup, clusters, softbinding, web, origins_page,
    verify_page, docs,
)  # fmt: skip


class SkipTilesGZip(GZipMiddleware):
    """GZip for everything but /tile/: api.routers.tiles compresses entry bundles itself, once
    per bundle, and leaves hash tiles (random bytes) as they are."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/tile/"):
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


_log = logging.getLogger("prov.serve")


def app_from_env() -> FastAPI:
    """The app as `prov serve --workers N` builds it in each worker process (uvicorn's factory):
    the settings come from the environment the command set, and the workers leave witness
    pushing to the command's own process (PROV_WITNESS_PUSH=0), so one process pushes."""
    registry_settings = RegistrySettings.from_env(LogConfig.from_env())
    push = os.environ.get("PROV_WITNESS_PUSH") != "0"
    log_requests = log_format_from_env() == "json"
    try:
        app = create_app(
            ApiSettings(registry_settings, push_to_witnesses=push, log_requests=log_requests)
        )
    except LedgerError as error:
        # A worker that cannot open the log (its database gone, say) says so in one log line,
        # a JSON line under PROV_LOG_FORMAT=json, not a traceback that breaks log parsers;
        # it exits, and uvicorn's supervisor starts another.
        fields = {"event": "worker_cannot_start", "code": error.code}
        _log.error("this worker cannot start: %s", error, extra={"fields": fields})
        raise SystemExit(error.exit_code) from None
    app.state.prov.registry.start_verify_workers()
    return app


def _open_state(settings: ApiSettings) -> AppState:
    metrics = Metrics(settings.monotonic)
    registry_ = open_registry(
        settings.registry, clock=settings.clock_ms, observer=metrics.sequencer
    )
    finder = Lookup(registry_.store)
    finder.refresh()  # load the near-duplicate index from the database
    metrics.sample_index(finder.stats, force=True)
    verifier = settings.registry.log.load_verifier()
    limits = settings.registry
    gate = DecodeGate(limits.decode_concurrency, limits.decode_queue_size)
    reports = OriginReports(on_computed=metrics.report_computations.inc)
    return AppState(settings, registry_, finder, verifier, gate, metrics, origin_reports=reports)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: AppState = app.state.prov
    log_settings = state.settings.registry.log
    witnesses = parse_witnesses(log_settings.witnesses)
    # Only the operator's server (the one holding the log key) pushes to witnesses.
    if witnesses and state.settings.push_to_witnesses and state.log_key is not None:
        pusher = WitnessPusher(state.store, witnesses, mark=log_settings.published_mark())
        counted = count_pushes(state.metrics.witness_pushes)
        state.witness_loop = WitnessLoop(pusher, log_settings.witness_interval_s, counted)
        state.witness_loop.start()
    yield
    if state.witness_loop is not None:
        state.witness_loop.stop()
        state.witness_loop = None
    # Here, not only at interpreter exit: on SIGTERM uvicorn re-raises the signal once the
    # lifespan ends, and the default action kills this process before any atexit hook, which
    # would leave the verify processes running as orphans. A new start respawns them.
    state.registry.close()
    state.metrics.process_exited()


def _observe(app: FastAPI, settings: ApiSettings) -> None:
    """Added after every other middleware, so it runs first and sees their refusals too."""
    state: AppState = app.state.prov
    app.add_middleware(
        Observe,
        metrics=state.metrics,
        routes=[route for module in ROUTERS for route in module.router.routes],
        clock=settings.monotonic,
        after=lambda: state.metrics.sample_index(state.lookup.stats),
        log_requests=settings.log_requests,
    )


def create_app(settings: ApiSettings | RegistrySettings | LogConfig) -> FastAPI:
    """The app on `settings` (a log's or a registry's alone: with the real clocks). Its state
    is `app.state.prov` (api.state.AppState); `app.state.prov.close()` releases it."""
    api_settings = ApiSettings.of(settings)
    # Fail on bad witness settings here, when the app is built, not at its first start.
    parse_witnesses(api_settings.registry.log.witnesses)
    app = FastAPI(
        title="Provenance Ledger",
        summary="A public, append-only, auditable registry of camera captures.",
        version="0.1.0",
        lifespan=_lifespan,
        # api.routers.docs serves both pages with their assets from this package, not a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.prov = _open_state(api_settings)
    limits = api_settings.registry
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    # JSON answers over 1 KB; level 1, as for entry bundles (api.routers.tiles).
    app.add_middleware(SkipTilesGZip, minimum_size=1024, compresslevel=1)
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    # Added last, so it runs first: a client over its rate is refused before its body is read.
    if limits.rate_limited:
        buckets = TokenBuckets(limits.rate_limit, limits.rate_burst, api_settings.monotonic)
        routes = LimitedRoutes.of(app.routes)
        app.add_middleware(
            RateLimit, buckets=buckets, routes=routes, trusted_proxies=limits.trusted_proxies
        )
    _observe(app, api_settings)
    return app
