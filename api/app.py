"""create_app(settings): the FastAPI application for one log and its registry."""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from starlette.types import Receive, Scope, Send

from api.errors import install_error_handlers
from api.limits import BodySizeLimit, RateLimit, TokenBuckets
from api.routers import (
    c2pa,
    clusters,
    log,
    lookup,
    origins_page,
    registry,
    softbinding,
    tiles,
    web,
)
from ledger import LogConfig
from ledger.witnessing import WitnessLoop, WitnessPusher, parse_witnesses
from registry import RegistrySettings, open_registry
from registry.lookup.query import Lookup


class SkipTilesGZip(GZipMiddleware):
    """GZip for everything but /tile/: api.routers.tiles compresses entry bundles itself, once
    per bundle, and leaves hash tiles (random bytes) as they are."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/tile/"):
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def app_from_env() -> FastAPI:
    """The app as `prov serve --workers N` builds it in each worker process (uvicorn's factory):
    the settings come from the environment the command set, and the workers leave witness
    pushing to the command's own process (PROV_WITNESS_PUSH=0), so one process pushes."""
    settings = RegistrySettings.from_env(LogConfig.from_env())
    app = create_app(settings, push_to_witnesses=os.environ.get("PROV_WITNESS_PUSH") != "0")
    app.state.registry.start_verify_workers()
    return app


def create_app(
    settings: RegistrySettings | LogConfig,
    *,
    push_to_witnesses: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The app; `clock` (monotonic seconds) drives the per-client rate limit."""
    if isinstance(settings, LogConfig):
        settings = RegistrySettings(log=settings)
    witnesses = parse_witnesses(settings.log.witnesses)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Only the operator's server (the one holding the log key) pushes to witnesses.
        loop = None
        if witnesses and push_to_witnesses and app.state.log_key is not None:
            pusher = WitnessPusher(app.state.store, witnesses)
            loop = WitnessLoop(pusher, settings.log.witness_interval_s)
            loop.start()
        app.state.witness_loop = loop
        yield
        if loop is not None:
            loop.stop()

    app = FastAPI(
        title="Provenance Ledger",
        summary="A public, append-only, auditable registry of camera captures.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.registry = open_registry(settings)
    app.state.store = app.state.registry.store
    app.state.lookup = Lookup(app.state.store)
    app.state.lookup.refresh()  # load the near-duplicate index from the database
    app.state.log_key = settings.log.load_verifier()
    app.state.settings = settings
    app.state.origin_reports = {}  # tree size -> registry.origins.report bytes
    app.state.origin_report_lock = asyncio.Lock()
    app.state.tile_cache = tiles.TileCache(tiles.CACHE_BYTES)
    # JSON answers over 1 KB; level 1, as for entry bundles (api.routers.tiles).
    app.add_middleware(SkipTilesGZip, minimum_size=1024, compresslevel=1)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Added last, so it runs first: a client over its rate is refused before its body is read.
    if settings.rate_limited:
        buckets = TokenBuckets(settings.rate_limit, settings.rate_burst, clock)
        app.add_middleware(RateLimit, buckets=buckets)
    install_error_handlers(app)
    app.include_router(tiles.router)
    app.include_router(log.router)
    app.include_router(registry.router)
    app.include_router(c2pa.router)
    app.include_router(lookup.router)
    app.include_router(clusters.router)
    app.include_router(softbinding.router)
    app.include_router(web.router)
    app.include_router(origins_page.router)
    return app
