"""create_witness_app(settings): the HTTP face of a C2SP tlog-witness (ledger.witness).

POST /add-checkpoint copies the core's WitnessResponse out unchanged; GET / says who the
witness is. This is a separate app from the log's: a witness runs on its own key and database.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from ledger.database import open_engine
from ledger.errors import ConfigurationError, LedgerError
from ledger.witness import (
    MAX_BODY_BYTES,
    TEXT_CONTENT_TYPE,
    Witness,
    load_cosigner,
    parse_log_keys,
)


def _now_s() -> int:
    return time.time_ns() // 1_000_000_000


@dataclass(frozen=True)
class WitnessSettings:
    database_url: str
    key_file: Path
    log_vkeys: Sequence[str]
    clock: Callable[[], int] = field(default=_now_s)
    """POSIX seconds: the cosignatures' timestamps."""


async def _read_body(request: Request) -> bytes:
    """The body, cut off one byte past the limit so the core rejects it without buffering more."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break
    return b"".join(chunks)[: MAX_BODY_BYTES + 1]


def _ledger_error(_request: Request, exc: Exception) -> Response:
    # Protocol refusals come back as WitnessResponse; an exception here is the witness's fault.
    status = 503 if isinstance(exc, ConfigurationError) else 500
    return Response(f"{exc}\n", status_code=status, media_type=TEXT_CONTENT_TYPE)


def create_witness_app(settings: WitnessSettings) -> FastAPI:
    witness = Witness(
        open_engine(settings.database_url),
        load_cosigner(settings.key_file),
        parse_log_keys(settings.log_vkeys),
    )
    app = FastAPI(title="Provenance Ledger witness", version="0.1.0")
    app.state.witness = witness
    app.add_exception_handler(LedgerError, _ledger_error)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = await _read_body(request)
        # The core reads and writes the database: keep it off the event loop.
        result = await run_in_threadpool(witness.add_checkpoint, body, settings.clock())
        # As a header, not media_type: Starlette would append a charset to text/x.tlog.size.
        headers = {"content-type": result.content_type}
        return Response(result.body, status_code=result.status, headers=headers)

    @app.get("/")
    def describe() -> dict[str, Any]:
        return {
            "name": witness.cosigner.name,
            "vkey": witness.cosigner.verifier.vkey,
            "origins": sorted(witness.logs),
        }

    return app
