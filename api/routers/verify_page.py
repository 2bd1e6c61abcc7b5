"""GET /verify: the in-browser bundle verifier, one self-contained HTML file (docs/design.md,
"The in-browser verifier"). Its script lives in api/static/verify/ as readable files, inlined
here at serve time, so the page can be saved and opened from disk with nothing else."""

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

# In dependency order: each file uses what the ones before it define.
SCRIPTS = ("proofs.js", "x509.js", "checks.js", "page.js")
_PLACEHOLDER = "/*SCRIPTS*/"


@cache
def verify_page() -> str:
    """The page, with its scripts inlined."""
    folder = files("api").joinpath("static", "verify")
    script = "\n".join(folder.joinpath(name).read_text(encoding="utf-8") for name in SCRIPTS)
    # A script may not close its own element early, or the rest would be read as markup.
    if "</script" in script.lower():
        raise RuntimeError("an inlined verifier script contains '</script'")
    return folder.joinpath("verify.html").read_text(encoding="utf-8").replace(_PLACEHOLDER, script)


@router.get("/verify", response_class=HTMLResponse)
def verify() -> HTMLResponse:
    """The page that verifies a proof bundle in the visitor's browser, offline."""
    return HTMLResponse(verify_page(), headers={"Cache-Control": "no-cache"})
