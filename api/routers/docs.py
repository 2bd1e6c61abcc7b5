"""The API's documentation pages, /docs (Swagger UI) and /redoc, served with their scripts and
styles from this server: the dist files fastapi-offline ships in its package. FastAPI's own
pages load them from a CDN, which leaves /docs blank offline and has every visitor's browser
call a third party; nothing here loads from another host (no web fonts, no validator badge).
"""

from pathlib import Path
from typing import Final

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from ledger.errors import NotFoundError

router = APIRouter(include_in_schema=False)

ASSETS: Final = Path(fastapi_offline.__file__).resolve().parent / "static"
PREFIX: Final = "/docs/assets/"
_TYPES: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
TITLE: Final = "Provenance Ledger API"


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=TITLE,
        swagger_js_url=PREFIX + "swagger-ui-bundle.js",
        swagger_css_url=PREFIX + "swagger-ui.css",
        swagger_favicon_url=PREFIX + "favicon.png",
        # Swagger UI otherwise shows a badge image fetched from a public validator.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title=TITLE,
        redoc_js_url=PREFIX + "redoc.standalone.js",
        redoc_favicon_url=PREFIX + "favicon.png",
        with_google_fonts=False,
    )


@router.get(PREFIX + "{name}")
def asset(name: str) -> FileResponse:
    """One of the few files the two pages load; no other path under the package is served."""
    media_type = _TYPES.get(name)
    if media_type is None:
        raise NotFoundError(f"{name!r} is not one of the API docs' assets: {', '.join(_TYPES)}")
    # A week: the files change only with the package's version, which the page's URL does not
    # name, so not forever.
    headers = {"Cache-Control": "public, max-age=604800"}
    return FileResponse(ASSETS / name, media_type=media_type, headers=headers)
