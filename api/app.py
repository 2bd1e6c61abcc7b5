"""create_app(config): the FastAPI application for one log."""

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from api.errors import install_error_handlers
from api.routers import log, tiles
from ledger import LogConfig, LogStore, open_engine


def create_app(config: LogConfig) -> FastAPI:
    app = FastAPI(
        title="Provenance Ledger",
        summary="A public, append-only, auditable registry of camera captures.",
        version="0.1.0",
    )
    app.state.store = LogStore(open_engine(config.database_url))
    app.state.log_key = config.load_verifier()
    # tlog-tiles asks for compressed entry bundles; small bodies are not worth it.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    install_error_handlers(app)
    app.include_router(tiles.router)
    app.include_router(log.router)
    return app
