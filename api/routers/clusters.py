"""GET /v1/clusters and GET /v1/origins/{id}: the origin report at a checkpoint (registry.origins.report)."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Store
from ledger.errors import NotFoundError
from registry.origins.facts import load_facts
from registry.origins.report import build_report, report_bytes

router = APIRouter(prefix="/v1", tags=["origins"])
_CACHED = 4  # reports kept, by tree size: a report at a size never changes

AtQuery = Annotated[
    int | None, Query(ge=0, description="tree size to compute at; default: the latest")
]


async def origin_report(request: Request, store: Store, at: int | None) -> bytes:
    size = store.latest_checkpoint().size if at is None else at
    cache: dict[int, bytes] = request.app.state.origin_reports
    if size not in cache:
        report = await run_in_threadpool(
            lambda: report_bytes(build_report(load_facts(store, size)))
        )
        while len(cache) >= _CACHED:
            cache.pop(next(iter(cache)))
        cache[size] = report
    return cache[size]


@router.get("/clusters", response_class=Response)
async def clusters(request: Request, store: Store, at: AtQuery = None) -> Response:
    """The whole report - clusters, suspicious devices and vendors with their evidence - as
    sorted compact JSON: the same bytes anyone recomputes from the log at that size."""
    return Response(await origin_report(request, store, at), media_type="application/json")


@router.get("/origins/{origin_id}")
async def origin(
    request: Request, store: Store, origin_id: str, at: AtQuery = None
) -> dict[str, Any]:
    """One device or vendor: its signals with the evidence entries, and the checkpoint."""
    report = json.loads(await origin_report(request, store, at))
    for kind, key in (("devices", "device"), ("vendors", "vendor")):
        for row in report[kind]:
            if row[key] == origin_id:
                return {"checkpoint": report["checkpoint"], "kind": key, **row}
    raise NotFoundError(
        f"{origin_id} shows no signal at tree size {report['checkpoint']['tree_size']} "
        "(or is not a device or vendor id)",
        code="no_signals",
    )
