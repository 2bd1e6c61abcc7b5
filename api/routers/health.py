"""Operations: /healthz (the process answers), /readyz (it can serve: database, index, and
whether it holds the sequencer lock right now) and /metrics (Prometheus). Not in the OpenAPI
schema, not rate limited; docs/operations.md says what load balancers and alarms make of them.
"""

import logging
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.deps import IndexStatsDep, LogKey, MetricsDep, Store
from api.metrics import CONTENT_TYPE
from ledger.errors import LedgerError

router = APIRouter(include_in_schema=False)
log = logging.getLogger("prov.health")

NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """200 while the process answers; touches nothing (a load balancer's liveness probe)."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


def _database(store: Store, metrics: MetricsDep) -> dict[str, Any]:
    try:
        latest = store.latest_checkpoint()  # a trivial query that also proves the schema
    except (LedgerError, SQLAlchemyError, OSError) as exc:
        # The details (host, database name) stay in the server's log, not on a public path.
        log.warning("readiness: the database does not answer: %s", exc)
        return {"ok": False, "error": f"the database does not answer ({type(exc).__name__})"}
    metrics.sequencer.tree_size.set(latest.size)
    return {"ok": True, "tree_size": latest.size}


@router.get("/readyz")
def readyz(
    store: Store, index_stats: IndexStatsDep, metrics: MetricsDep, log_key: LogKey
) -> JSONResponse:
    """200 when the database answers and the near-duplicate index is loaded, else 503; the
    body says which, and whether this process holds the sequencer lock at this moment."""
    database = _database(store, metrics)
    stats = index_stats()
    ready = bool(database["ok"]) and stats.loaded
    body = {
        "status": "ready" if ready else "not ready",
        "database": database,
        "index": {
            "loaded": stats.loaded,
            "captures": stats.captures,
            "entries": stats.entries,
            "memory_bytes": stats.memory_bytes,
        },
        "sequencer_lock": metrics.sequencer.holding,
        "log_key": log_key is not None,  # whether this server can sequence at all
    }
    return JSONResponse(body, status_code=200 if ready else 503, headers=NO_STORE)


@router.get("/metrics")
def metrics_text(metrics: MetricsDep, index_stats: IndexStatsDep) -> Response:
    """Every metric in Prometheus's text format; with --workers N, summed over the workers."""
    metrics.sample_index(index_stats, force=True)
    return Response(metrics.exposition(), media_type=CONTENT_TYPE, headers=NO_STORE)
