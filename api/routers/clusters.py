"""GET /v1/clusters and GET /v1/origins/{id}: the origin report at a checkpoint (registry.origins.report)."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import OriginReportsDep, Store
from api.schemas import OriginOut
from ledger.errors import NotFoundError

router = APIRouter(prefix="/v1", tags=["origins"])

AtQuery = Annotated[
    int | None,
    Query(
        ge=0,
        description="a tree size the log signed a checkpoint at (default: the latest); any "
        "other size is 404 report_not_computed: run `prov clusters --at N` on your own copy",
    ),
]
_REPORT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "the origin report"}
}


@router.get("/clusters", response_class=Response, responses=_REPORT)
async def clusters(store: Store, reports: OriginReportsDep, at: AtQuery = None) -> Response:
    """The whole report - clusters, suspicious devices and vendors with their evidence - as
    sorted compact JSON: the same bytes anyone recomputes from the log at that size. Served
    at the latest checkpoint (while the tree grows, the previous report until the new one is
    computed: its `checkpoint` says which) or at a signed checkpoint's size, computed in the
    background one at a time (api.origin_reports); 429 `reports_busy` when too many wait."""
    return Response(await reports.at(store, at), media_type="application/json")


@router.get("/origins/{origin_id}", responses={200: {"model": OriginOut}})
async def origin(
    store: Store, reports: OriginReportsDep, origin_id: str, at: AtQuery = None
) -> dict[str, Any]:
    """One device or vendor: its signals with the evidence entries, and the checkpoint."""
    report = json.loads(await reports.at(store, at))
    for kind, key in (("devices", "device"), ("vendors", "vendor")):
        for row in report[kind]:
            if row[key] == origin_id:
                return {"checkpoint": report["checkpoint"], "kind": key, **row}
    raise NotFoundError(
        f"{origin_id} shows no signal at tree size {report['checkpoint']['tree_size']} "
        "(or is not a device or vendor id)",
        code="no_signals",
    )
