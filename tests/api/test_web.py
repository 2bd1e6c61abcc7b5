"""The fact-checkers' page at `/`: server-rendered HTML, and a real headless Chromium that uploads
a re-encoded image and sees the verdict and the matches.

The browser test needs Debian's `chromium` (/usr/bin/chromium; `.ci/run` installs it) and the
`playwright` Python package (the test extra), driven with executable_path: nothing is downloaded.
Without Chromium it skips with the reason; under CI=true it fails instead.
"""

import io
import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api import create_app
from ledger import LogConfig, Signer
from ledger.note import write_private_key_file
from registry import Registry, RegistrySettings
from registry.entries.sdk import sign_capture
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import picture
from tests.support.serving import prov_serve
from tests.support.web_sites import CHROMIUM, chromium_or_skip

SIZE = (320, 240)


def reencoded(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB").resize((240, 180))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=65)
    return out.getvalue()


@pytest.fixture
def site(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> tuple[Path, bytes, int]:
    """A log with one registered picture; returns (data dir with the key, the picture, its index)."""
    image = picture(17, SIZE)
    record = sign_capture(
        image, enrolled.device.private_key, enrolled.device.certificate, 1, clock.now_ms
    )
    receipt = registry.submit_captures([record])[0].receipt
    assert receipt is not None
    write_private_key_file(tmp_path / "log.key", signer.to_string(), "log")
    return tmp_path, image, receipt.index


def app_for(data_dir: Path, url: str) -> TestClient:
    settings = RegistrySettings(
        log=LogConfig(data_dir, url, data_dir / "log.key"), verify_workers=0
    )
    return TestClient(create_app(settings))


def test_page_renders_a_verdict_and_matches(
    site: tuple[Path, bytes, int], migrated_url: str
) -> None:
    data_dir, image, index = site
    with app_for(data_dir, migrated_url) as client:
        page = client.get("/")
        assert page.status_code == 200 and "Check this image" in page.text
        result = client.post("/", files={"image": ("found.jpg", reencoded(image), "image/jpeg")})
        assert result.status_code == 200
        assert 'data-verdict="near-duplicate"' in result.text
        assert f'href="/v1/bundles/{index}"' in result.text
        assert "data:image/jpeg;base64," in result.text  # the thumbnail of the upload
        unknown = client.post("/", files={"image": ("other.png", picture(99, SIZE), "image/png")})
        assert 'data-verdict="not-found"' in unknown.text
        junk = client.post("/", files={"image": ("notes.txt", b"not an image", "text/plain")})
        assert junk.status_code == 400 and "notes.txt" in junk.text and 'id="error"' in junk.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the browser needs one server
def test_chromium_uploads_a_reencoded_image_and_sees_the_verdict(
    site: tuple[Path, bytes, int], migrated_url: str, tmp_path: Path
) -> None:
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    data_dir, image, index = site
    found = tmp_path / "found-online.jpg"
    found.write_bytes(reencoded(image))
    with prov_serve(
        ["--data-dir", str(data_dir), "--database", migrated_url], tmp_path / "serve.log"
    ) as base:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            )  # fmt: skip
            page = browser.new_page()
            page.goto(base + "/")
            page.set_input_files("#image", str(found))
            page.click("#check")
            page.wait_for_selector("#verdict")
            verdict = page.inner_text("#verdict")
            assert verdict.startswith("Near-duplicate"), verdict
            rows = page.locator("tr.match")
            assert rows.count() >= 1
            first = rows.first.inner_text()
            assert str(index) in first and re.search(r"PDQ distance \d+", first), first
            href = page.get_attribute("a.bundle", "href")
            assert href == f"/v1/bundles/{index}"
            assert page.locator("img.thumb").evaluate("img => img.naturalWidth") > 0
            browser.close()
        bundle = httpx.get(base + href, timeout=5)
        assert bundle.status_code == 200 and bundle.json()["capture"]["index"] == index


@pytest.fixture
def suspicious_site(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> tuple[Path, str]:
    """A device that reuses its counters (a cloned key) on a picture it registers twice (two
    claims of it, at two times: one claim signed twice would be one capture)."""
    device = enrolled.device
    records = [
        sign_capture(
            picture(seed, SIZE),
            device.private_key,
            device.certificate,
            1,
            clock.now_ms - 5_000 + position,
        )  # fmt: skip
        for position, seed in enumerate((3, 3, 4))
    ]
    results = registry.submit_captures(records)
    assert all(r.receipt is not None for r in results)
    write_private_key_file(tmp_path / "log.key", signer.to_string(), "log")
    receipt = results[0].receipt
    assert receipt is not None
    entry = registry.store.entry(receipt.index)
    return tmp_path, json.loads(entry)["claim"]["device"]


def test_origins_page_lists_the_suspicious_device_with_evidence(
    suspicious_site: tuple[Path, str], migrated_url: str
) -> None:
    data_dir, device = suspicious_site
    with app_for(data_dir, migrated_url) as client:
        page = client.get("/origins")
    assert page.status_code == 200
    assert f'data-device="{device}"' in page.text and "suspicious" in page.text
    assert "cloned or extracted key" in page.text
    assert '<figure class="cluster"' in page.text and 'class="anchor"' in page.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the browser needs one server
def test_chromium_shows_suspicious_origins_and_a_cluster_picture(
    suspicious_site: tuple[Path, str], migrated_url: str, tmp_path: Path
) -> None:
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    data_dir, device = suspicious_site
    options = ["--data-dir", str(data_dir), "--database", migrated_url]
    with prov_serve(options, tmp_path / "serve.log") as base, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        page = browser.new_page()
        page.goto(base + "/origins")
        row = page.locator(f'tr.origin[data-device="{device}"]')
        assert row.count() == 1 and "suspicious" in row.inner_text()
        assert "cloned or extracted key" in row.inner_text()
        picture_box = page.locator("figure.cluster svg").first.bounding_box()
        assert picture_box is not None and picture_box["width"] > 100
        assert page.locator("figure.cluster circle.anchor").count() >= 1
        browser.close()
