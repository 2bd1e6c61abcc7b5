"""The page at `/` for fact-checkers: choose an image, see the verdict, the matching records and
their proof bundles. Server-rendered; no JavaScript, no build step."""

import base64
import io
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from PIL import Image
from starlette.concurrency import run_in_threadpool

from api.deps import DecodeGateDep, LookupDep, SettingsDep, Store
from api.errors import status_for
from api.pages import templates
from ledger import LogStore
from ledger.errors import LedgerError
from registry.config import RegistrySettings
from registry.errors import OverloadedError
from registry.imaging.hashing import DIHEDRAL_NAMES
from registry.lookup.query import Query, query_from_upload

router = APIRouter(include_in_schema=False)

HEADLINES = {
    "registered": "Registered: this exact file was registered by a camera when it was captured.",
    "near-duplicate": "Near-duplicate: a camera registered a picture that looks like this one.",
    "disclosed-synthetic": "Disclosed synthetic: an image generator disclosed making this picture.",
    "not-found": "Not found: nothing in the log looks like this picture. That proves nothing either way.",
}

# A verdict that carries cautions never reads (or looks) like the clean one: its own heading,
# and the amber "caution" class instead of the verdict's colour.
CAUTIONED = {
    "registered": "Registered — with cautions: this exact file is in the log, but the log knows something against it.",
    "near-duplicate": "Near-duplicate — with cautions: a similar picture is in the log, but the log knows something against it.",
    "disclosed-synthetic": "Disclosed synthetic — with cautions: a generator disclosed this picture; read the cautions.",
}  # fmt: skip


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _delay(ms: int) -> str:
    seconds = max(ms, 0) // 1000
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds} seconds"


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


def _page(
    request: Request,
    store: LogStore,
    name: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    latest = store.latest_checkpoint()
    context |= {"origin": latest.checkpoint.origin, "tree_size": latest.size}
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=headers
    )


def _error_page(request: Request, store: LogStore, error: LedgerError) -> HTMLResponse:
    retry = error.retry_after_s if isinstance(error, OverloadedError) else None
    headers = None if retry is None else {"Retry-After": str(retry)}
    return _page(request, store, "index.html", status_for(error), headers, error=str(error))


@router.get("/", response_class=HTMLResponse)
def index(request: Request, store: Store) -> HTMLResponse:
    return _page(request, store, "index.html")


# Query probe or matched capture hash -> what it means, in plain words.
_EDITS = {
    "trimmed": "borders or a screen around it removed",
    "pdq-center95-v1": "edges cropped",
    "top80": "bottom part covered or changed",
    "bottom80": "top part covered or changed",
}


def _how(probe: str, matched_hash: str, evidence: str) -> str:
    notes = [_EDITS[key] for key in (probe, matched_hash) if key in _EDITS]
    if probe in DIHEDRAL_NAMES[1:]:
        notes.append("rotated or flipped")
    if evidence == "pdq+phash":
        notes.append("confirmed by a second hash")
    return "; ".join(dict.fromkeys(notes))


@router.post("/", response_class=HTMLResponse)
async def check(
    request: Request, store: Store, finder: LookupDep, gate: DecodeGateDep, settings: SettingsDep
) -> HTMLResponse:
    form = await request.form()
    upload = form.get("image")
    if upload is None or isinstance(upload, str):
        return _page(request, store, "index.html", 400, error="Choose an image file first.")
    data = await upload.read()
    name = upload.filename or "image"
    try:
        hashed = await run_in_threadpool(gate.run, partial(_hashed_upload, settings, data, name))
        query, thumbnail = hashed
        result = await run_in_threadpool(finder.lookup, query)
    except LedgerError as exc:
        return _error_page(request, store, exc)
    first = next((m.leaf_index for m in result.matches if m.first_logged), None)
    matches = [
        {
            **vars(m),
            "order": "first logged" if m.first_logged else f"logged later than #{first}",
            "captured": _when(m.captured_at_ms),
            "logged": _when(m.logged_at_ms),
            "delay": _delay(m.delay_ms),
            "how": _how(m.probe, m.matched_hash, m.evidence),
            "cautions": [c.to_json() for c in m.cautions],
        }
        for m in result.matches
    ]
    cautions = [c.to_json() for c in result.cautions]
    headline = CAUTIONED.get(result.verdict) if cautions else None
    return _page(
        request, store, "result.html",
        verdict=result.verdict, headline=headline or HEADLINES[result.verdict], matches=matches,
        thumbnail=thumbnail, filename=name, cautions=cautions,
        verdict_class="caution" if cautions else result.verdict,
    )  # fmt: skip
