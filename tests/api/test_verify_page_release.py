"""The /verify page is the release's, not the server's: every log running one release serves the
same bytes, so a fact-checker who distrusts an operator can compare the page (sha256sum) with
the one rendered from the installed package or served by another log (docs/threat-model.md)."""

import hashlib
from pathlib import Path

from api.routers.verify_page import verify_page
from ledger import Signer
from registry import Registry
from tests.support.in_process import api_client


def test_the_served_page_is_the_packaged_page_and_names_no_log(
    registry: Registry, signer: Signer, tmp_path: Path
) -> None:
    with api_client(registry, signer, tmp_path) as client:
        served = client.get("/verify")
        origin = client.get("/checkpoint").text.splitlines()[0]
    assert served.status_code == 200
    assert served.text == verify_page()
    # Nothing of this log is in it (its origin, its key): the same page for every log.
    assert origin not in served.text
    assert signer.verifier.vkey not in served.text
    assert (
        hashlib.sha256(served.content).hexdigest()
        == hashlib.sha256(verify_page().encode()).hexdigest()
    )
