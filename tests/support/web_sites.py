"""Logs for the web pages' tests (tests/api/test_web*.py), registered as fixtures by
tests/conftest.py, and what those tests share: the app on a site's data directory, Chromium
(Debian's, through Playwright's executable_path: nothing is downloaded), the check that a page
loads nothing from another host, and the screenshots saved under bench/results/web/."""

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api import create_app
from ledger import LogConfig, Signer
from ledger.note import write_private_key_file
from registry import Registry, RegistrySettings
from registry.entries.sdk import sign_capture
from testkit.pki import DevicePKI, IssuedCert, make_device
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import picture
from tests.support.status_fixtures import revoke_device

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = "/usr/bin/chromium"
SIZE = (320, 240)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "web"
_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@dataclass(frozen=True)
class Site:
    """A log's data directory (with its key) and what the test logged in it."""

    data_dir: Path
    image: bytes  # the registered picture
    index: int  # its capture's leaf index
    later: int | None = None  # a later registration of it, by another device
    revocation: int | None = None  # a revocation of its device, logged after the capture
    compromised_since: int = 0


def reencoded(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB").resize((240, 180))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=65)
    return out.getvalue()


def rotated(data: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").rotate(90, expand=True).save(out, "PNG")
    return out.getvalue()


def app_for(site: Site, url: str) -> TestClient:
    settings = RegistrySettings(
        log=LogConfig(site.data_dir, url, site.data_dir / "log.key"), verify_workers=0
    )
    return TestClient(create_app(settings))


def _capture(registry: Registry, device: IssuedCert, image: bytes, captured_at: int) -> int:
    record = sign_capture(image, device.private_key, device.certificate, 1, captured_at)
    receipt = registry.submit_captures([record])[0].receipt
    assert receipt is not None
    return receipt.index


def _key(signer: Signer, tmp_path: Path) -> Path:
    write_private_key_file(tmp_path / "log.key", signer.to_string(), "log")
    return tmp_path


@pytest.fixture
def clean_site(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> Site:
    """One picture, captured 1.6 s before it was logged (a delay of "1 second")."""
    image = picture(17, SIZE)
    index = _capture(registry, enrolled.device, image, clock.now_ms - 1_600)
    return Site(_key(signer, tmp_path), image, index)


@pytest.fixture
def caution_site(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> Site:
    """A picture whose device is then revoked with a compromise date before the capture: the
    capture stays in the log, taken inside the declared compromise window."""
    image = picture(23, SIZE)
    index = _capture(registry, enrolled.device, image, clock.now_ms - 10_000)
    since = clock.now_ms - 3_600_000
    clock.now_ms += 7 * 86_400_000  # the compromise is reported a week later
    revocation = revoke_device(registry, enrolled, since)
    return Site(
        _key(signer, tmp_path), image, index, revocation=revocation, compromised_since=since
    )


@pytest.fixture
def rival_site(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> Site:
    """The same picture registered by two devices of one vendor, the second an hour later."""
    image = picture(31, SIZE)
    first = _capture(registry, enrolled.device, image, clock.now_ms - 5_000)
    now = datetime.fromtimestamp(clock.now_ms / 1000, UTC)
    other = make_device(enrolled.intermediates[0], now, common_name="Example X100 #0002")
    registry.enroll_device(other.der, enrolled.chain_der)
    clock.now_ms += 3_600_000
    later = _capture(registry, other, reencoded(image), clock.now_ms - 2_000)
    return Site(_key(signer, tmp_path), image, first, later=later)


# src="..." or href="..." naming a scheme and a host.
_ABSOLUTE = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]+)""", re.I)


def off_host_references(html: str) -> list[str]:
    """Every src, href or action of the page that names a host (this server's pages name none,
    so any is another host)."""
    return _ABSOLUTE.findall(html)


def chromium_or_skip() -> None:
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed (pip install -e '.[test]')"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires the browser test: {reason}")
        pytest.skip(reason)


@contextmanager
def chromium() -> Iterator["Browser"]:
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_path(name: str) -> Path:
    """Where a test saves its screenshot of a page (bench/results/ is not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
