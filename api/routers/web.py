"""The page at `/` for fact-checkers: choose (or drop) an image, see the verdict, the matching
records and their proof bundles; and `/how-to-verify`. Server-rendered; the only script is the
drop zone's few inline lines, and the form works without it."""

import base64
import io
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from PIL import Image
from starlette.concurrency import run_in_threadpool

from api.deps import DecodeGateDep, LogKey, LookupDep, SettingsDep, Store
from api.errors import status_for
from api.pages import render
from api.uploads import uploaded_image
from ledger import LogStore, Verifier
from ledger.errors import LedgerError
from registry.config import RegistrySettings
from registry.errors import OverloadedError
from registry.lookup.explain import NOT_FOUND_ADVICE, likeness, log_order, survived
from registry.lookup.query import Match, Query, query_from_upload
from registry.wording import duration, iso_utc

router = APIRouter(include_in_schema=False)

HEADLINES = {
    "registered": "Registered: this exact file was registered by a camera when it was captured.",
    "near-duplicate": "Near-duplicate: a camera registered a picture that looks like this one.",
    "disclosed-synthetic": "Disclosed synthetic: an image generator disclosed making this picture.",
    "not-found": "Not found: nothing in the log looks like this picture. That proves nothing either way: not that it is fake, nor that it is real.",
}

# A verdict that carries cautions never reads (or looks) like the clean one: its own heading,
# and the amber "caution" class instead of the verdict's colour.
CAUTIONED = {
    "registered": "Registered — with cautions: this exact file is in the log, but the log knows something against it.",
    "near-duplicate": "Near-duplicate — with cautions: a similar picture is in the log, but the log knows something against it.",
    "disclosed-synthetic": "Disclosed synthetic — with cautions: a generator disclosed this picture; read the cautions.",
}  # fmt: skip


def _thumbnail(data: bytes) -> str:
    """A small JPEG data URI of the upload, so the page shows what was checked."""
    image = Image.open(io.BytesIO(data))
    image.thumbnail((240, 240))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def _hashed_upload(settings: RegistrySettings, data: bytes, name: str) -> tuple[Query, str]:
    """The lookup's hashes and the page's thumbnail: both decode the upload, so both run in one
    turn of the decode gate (and the thumbnail only for an image the caps let through)."""
    return query_from_upload(settings, data, name), _thumbnail(data)


def _error_page(
    request: Request, store: LogStore, log_key: Verifier | None, error: LedgerError
) -> HTMLResponse:
    retry = error.retry_after_s if isinstance(error, OverloadedError) else None
    headers = None if retry is None else {"Retry-After": str(retry)}
    context = {"error": str(error)}
    return render(request, store, log_key, "index.html", context, status_for(error), headers)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, store: Store, log_key: LogKey) -> HTMLResponse:
    return render(request, store, log_key, "index.html", {})


@router.get("/how-to-verify", response_class=HTMLResponse)
def how_to_verify(request: Request, store: Store, log_key: LogKey) -> HTMLResponse:
    return render(request, store, log_key, "how_to_verify.html", {})


# The verdict box's colour: green only for a clean camera verdict; cautions override it.
_VERDICT_CLASS = {
    "registered": "clean", "near-duplicate": "clean",
    "disclosed-synthetic": "synthetic", "not-found": "neutral",
}  # fmt: skip


def _match_row(match: Match, order: list[tuple[int, bool]]) -> dict[str, Any]:
    return {
        **vars(match),
        "likeness": likeness(match.exact, match.pdq_distance),
        "how": survived(match.probe, match.matched_hash, match.evidence),
        "order": log_order(match.leaf_index, match.first_logged, order),
        "captured": iso_utc(match.captured_at_ms),
        "logged": iso_utc(match.logged_at_ms),
        "delay": duration(match.delay_ms),
        "cautions": [c.to_json() for c in match.cautions],
    }


@router.post("/", response_class=HTMLResponse)
async def check(
    request: Request,
    store: Store,
    log_key: LogKey,
    finder: LookupDep,
    gate: DecodeGateDep,
    settings: SettingsDep,
) -> HTMLResponse:
    try:
        data, name = await uploaded_image(await request.form())
        hashed = await run_in_threadpool(gate.run, partial(_hashed_upload, settings, data, name))
        query, thumbnail = hashed
        result = await run_in_threadpool(finder.lookup, query)
    except LedgerError as exc:
        return _error_page(request, store, log_key, exc)
    order = [(m.leaf_index, m.first_logged) for m in result.matches]
    cautions = [c.to_json() for c in result.cautions]
    headline = CAUTIONED.get(result.verdict) if cautions else None
    return render(request, store, log_key, "result.html", {
        "verdict": result.verdict, "headline": headline or HEADLINES[result.verdict],
        "matches": [_match_row(m, order) for m in result.matches],
        "thumbnail": thumbnail, "filename": name, "cautions": cautions,
        "verdict_class": "caution" if cautions else _VERDICT_CLASS[result.verdict],
        "not_found_advice": NOT_FOUND_ADVICE,
    })  # fmt: skip
