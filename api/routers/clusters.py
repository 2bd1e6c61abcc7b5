"""GET /v1/clusters and GET /v1/origins/{id}: the origin report at a checkpoint (registry.origins.report)."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import OriginReportsDep, Store
from api.schemas import OriginOut
from ledger.errors import NotFoundError

router = APIRouter(prefix="/v1", tags=["origins"])

AtQuery = Annotated[
    int | None, Query(ge=0, description="tree size to compute at; default: the latest")
]
_REPORT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "the origin report"}
}


@router.get("/clusters", response_class=Response, responses=_REPORT)
async def clusters(store: Store, reports: OriginReportsDep, at: AtQuery = None) -> Response:
    """The whole report - clusters, suspicious devices and vendors with their evidence - as
    sorted compact JSON: the same bytes anyone recomputes from the log at that size."""
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
