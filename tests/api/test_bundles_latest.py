"""Issue 15: the web page and GET /v1/bundles/{index} serve bundles at the log's latest
checkpoint, with its status proofs, so a revocation logged since the capture shows at once;
and a log with no status note yet serves the older format, cautioned as unproven."""

import json
import re
from pathlib import Path

from sqlalchemy import delete

from ledger import Signer
from ledger.checkpoint import open_checkpoint
from ledger.schema import log_status_notes
from registry import Registry
from registry.bundle.verify import verify_bundle
from registry.cautions import CAPTURED_IN_COMPROMISE_WINDOW, REVOCATION_STATUS_UNPROVEN
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.in_process import api_client
from tests.support.registry_fixtures import picture
from tests.support.status_fixtures import capture, revoke_device

SEED = 43


def test_the_page_links_to_bundles_at_the_latest_checkpoint(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    capture(registry, enrolled, SEED + 1, 2, clock.now_ms - 20_000)  # the log grows further
    latest = registry.store.latest_checkpoint().size
    with api_client(registry, signer, tmp_path) as client:
        page = client.post("/", files={"image": ("x.png", picture(SEED), "image/png")})
        assert page.status_code == 200
        (link,) = set(re.findall(r'href="(/v1/bundles/\d+)"', page.text)) & {f"/v1/bundles/{index}"}
        served = client.get(link)
    assert served.status_code == 200
    bundle = json.loads(served.content)
    assert open_checkpoint(bundle["checkpoint"].encode(), signer.verifier).size == latest
    assert [r["index"] for r in bundle["revocations"]] == [revocation]
    report = verify_bundle(served.content, signer.verifier)
    assert report.ok and report.status is not None and report.status.size == latest
    assert served.headers["prov-cautions"] == CAPTURED_IN_COMPROMISE_WINDOW


def test_a_log_without_a_status_note_serves_the_older_format_cautioned(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    with registry.store.engine.begin() as connection:
        connection.execute(delete(log_status_notes))  # as a log before status notes
    with api_client(registry, signer, tmp_path) as client:
        served = client.get(f"/v1/bundles/{index}")
        assert client.get("/checkpoint/status").status_code == 404
    assert "status" not in json.loads(served.content)
    assert served.headers["prov-cautions"] == REVOCATION_STATUS_UNPROVEN
    report = verify_bundle(served.content, signer.verifier)
    assert report.ok and [c.code for c in report.cautions] == [REVOCATION_STATUS_UNPROVEN]
