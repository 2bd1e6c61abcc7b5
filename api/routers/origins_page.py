"""The page at `/origins`: suspicious origins with their evidence, and pictures of clusters;
and `/entries/{index}`, the readable page each piece of evidence links to.

Server-rendered from the same report as GET /v1/clusters (so what a person reads is what anyone
recomputes from the log at that size); each cluster is drawn as a timeline - who registered
what, and when - because a picture shows a re-registration faster than a table does.
"""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import LogKey, OriginReportsDep, Store
from api.pages import render
from registry.entries.readable import entry_view
from registry.origins.explain import compromise_sentences
from registry.origins.facts import capture_times
from registry.wording import duration, iso_utc, plural

router = APIRouter(include_in_schema=False)
# No alarm red: the first registrant of a cluster is its row 0, drawn in plain blue, and being
# later is not by itself an accusation (the signals and their reasons say what is wrong).
PALETTE = ("#1a73e8", "#5f6368", "#188038", "#9334e6", "#12b5cb", "#b06000", "#795548", "#3949ab")
WIDTH, ROW, LEFT = 640, 26, 150  # the timeline picture, in SVG units


def _picture(cluster: dict[str, Any], captures: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One row per device, a dot per capture at its logged time; the anchor is drawn larger."""
    start, span = cluster["first_logged_at"], max(cluster["span_ms"], 1)
    first = captures.get(cluster["anchor"], {}).get("device")
    # The first registrant's row on top, then the others as the report sorts them.
    devices = sorted(cluster["devices"], key=lambda d: d != first)
    dots = []
    for index in cluster["members"]:
        capture = captures.get(index, {})
        row = devices.index(capture.get("device", devices[0]))
        x = LEFT + (WIDTH - LEFT - 20) * (capture.get("logged_at", start) - start) / span
        dots.append({
            "x": round(x, 1), "y": ROW * row + ROW // 2, "anchor": index == cluster["anchor"],
            "colour": PALETTE[row % len(PALETTE)], "index": index,
            "title": f"entry {index}, logged {iso_utc(capture.get('logged_at', start))}",
        })  # fmt: skip
    rows = [{"y": ROW * i + ROW // 2, "label": d[:12] + "…", "colour": PALETTE[i % len(PALETTE)],
             "first": d == first} for i, d in enumerate(devices)]  # fmt: skip
    return {"dots": dots, "rows": rows, "height": ROW * len(devices), "width": WIDTH}


@router.get("/origins", response_class=HTMLResponse)
async def origins(
    request: Request,
    store: Store,
    log_key: LogKey,
    reports: OriginReportsDep,
    at: Annotated[int | None, Query(ge=0)] = None,  # a signed checkpoint's size, as /v1/clusters
    top: Annotated[int, Query(ge=1, le=200)] = 20,
) -> HTMLResponse:
    report = json.loads(await reports.at(store, at))
    captures = await _capture_times(store, report, top)
    clusters = [
        {**c, "picture": _picture(c, captures), "span": duration(c["span_ms"]),
         "size": plural(len(c["members"]), "capture"),
         "by": plural(len(c["devices"]), "device")}
        for c in report["clusters"][:top]
    ]  # fmt: skip
    devices = report["devices"][:top]
    dates = await run_in_threadpool(compromise_sentences, store, devices)
    return render(request, store, log_key, "origins.html", {
        "report": report, "devices": devices, "vendors": report["vendors"][:top],
        "clusters": clusters, "compromise_dates": dates, "plural": plural,
    })  # fmt: skip


async def _capture_times(
    store: Store, report: dict[str, Any], top: int
) -> dict[int, dict[str, Any]]:
    """The device and logged_at of every capture the shown clusters mention."""
    wanted = sorted({i for c in report["clusters"][:top] for i in c["members"]})
    found = await run_in_threadpool(capture_times, store, wanted)
    return {i: {"device": device, "logged_at": logged} for i, (device, logged) in found.items()}


@router.get("/origins/{origin_id}", response_class=HTMLResponse)
async def origin_page(
    request: Request,
    store: Store,
    log_key: LogKey,
    reports: OriginReportsDep,
    origin_id: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
) -> HTMLResponse:
    """One origin (a device, or a per-capture vendor's CA) as the latest report sees it: what
    each match of a lookup links to, whether or not the origin shows any signal."""
    report = json.loads(await reports.at(store, None))
    row = next((r for r in report["devices"] if r["device"] == origin_id), None)
    dates = await run_in_threadpool(compromise_sentences, store, [row] if row else [])
    return render(request, store, log_key, "origin.html", {
        "report": report, "origin_id": origin_id, "row": row, "compromise_dates": dates,
        "plural": plural,
    })  # fmt: skip


@router.get("/entries/{index}", response_class=HTMLResponse)
def entry_page(
    request: Request, store: Store, log_key: LogKey, index: Annotated[int, Path(ge=0)]
) -> HTMLResponse:
    """One log entry, readable: what the evidence links of /origins and of a result open."""
    return render(request, store, log_key, "entry.html", {"entry": entry_view(store, index)})
