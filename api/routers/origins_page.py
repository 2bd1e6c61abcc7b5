"""The page at `/origins`: suspicious origins with their evidence, and pictures of clusters.

Server-rendered from the same report as GET /v1/clusters (so what a person reads is what anyone
recomputes from the log at that size); each cluster is drawn as a timeline - who registered
what, and when - because a picture shows a re-registration faster than a table does.
"""

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import OriginReportsDep, Store
from api.pages import templates
from registry.origins.facts import capture_times

router = APIRouter(include_in_schema=False)
PALETTE = ("#1a73e8", "#d93025", "#188038", "#f29900", "#9334e6", "#12b5cb", "#e52592", "#5f6368")
WIDTH, ROW, LEFT = 640, 26, 150  # the timeline picture, in SVG units


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _picture(cluster: dict[str, Any], captures: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One row per device, a dot per capture at its logged time; the anchor is drawn larger."""
    start, span = cluster["first_logged_at"], max(cluster["span_ms"], 1)
    devices = cluster["devices"]
    dots = []
    for index in cluster["members"]:
        capture = captures.get(index, {})
        row = devices.index(capture.get("device", devices[0]))
        x = LEFT + (WIDTH - LEFT - 20) * (capture.get("logged_at", start) - start) / span
        dots.append({
            "x": round(x, 1), "y": ROW * row + ROW // 2, "anchor": index == cluster["anchor"],
            "colour": PALETTE[row % len(PALETTE)], "index": index,
            "title": f"entry {index}, logged {_when(capture.get('logged_at', start))} UTC",
        })  # fmt: skip
    rows = [{"y": ROW * i + ROW // 2, "label": d[:12] + "…", "colour": PALETTE[i % len(PALETTE)]}
            for i, d in enumerate(devices)]  # fmt: skip
    return {"dots": dots, "rows": rows, "height": ROW * len(devices), "width": WIDTH}


@router.get("/origins", response_class=HTMLResponse)
async def origins(
    request: Request,
    store: Store,
    reports: OriginReportsDep,
    at: Annotated[int | None, Query(ge=0)] = None,  # a signed checkpoint's size, as /v1/clusters
    top: Annotated[int, Query(ge=1, le=200)] = 20,
) -> HTMLResponse:
    report = json.loads(await reports.at(store, at))
    captures = await _capture_times(store, report, top)
    clusters = [
        {**c, "picture": _picture(c, captures), "span": f"{c['span_ms'] / 1000:.0f} s"}
        for c in report["clusters"][:top]
    ]
    latest = store.latest_checkpoint()
    return templates.TemplateResponse(request, "origins.html", {
        "report": report, "devices": report["devices"][:top], "vendors": report["vendors"][:top],
        "clusters": clusters, "origin": latest.checkpoint.origin, "tree_size": latest.size,
    })  # fmt: skip


async def _capture_times(
    store: Store, report: dict[str, Any], top: int
) -> dict[int, dict[str, Any]]:
    """The device and logged_at of every capture the shown clusters mention."""
    wanted = sorted({i for c in report["clusters"][:top] for i in c["members"]})
    found = await run_in_threadpool(capture_times, store, wanted)
    return {i: {"device": device, "logged_at": logged} for i, (device, logged) in found.items()}
