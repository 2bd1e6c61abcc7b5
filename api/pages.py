"""The templates of the server-rendered pages (api/templates/), shared by their routers, and
`render`: every page's footer names the log, its size and its verifier key with the key's
fingerprint, so a reader can compare the key with the one the log's other sources publish."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ledger import LogStore, Verifier
from registry.wording import key_fingerprint

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def render(
    request: Request,
    store: LogStore,
    log_key: Verifier | None,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The template `name` with the footer's facts added to `context`."""
    latest = store.latest_checkpoint()
    vkey = log_key.vkey if log_key is not None else None
    context = context | {
        "origin": latest.checkpoint.origin,
        "tree_size": latest.size,
        "vkey": vkey,
        "fingerprint": key_fingerprint(vkey) if vkey else None,
    }
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=headers
    )
