"""The fact-checker's pages in a real headless Chromium (issue 17, "web"): the verdicts' colours
as computed, a file dropped on the drop zone, the API docs with every off-host request blocked,
/origins on a 390 px phone, and screenshots of each under bench/results/web/ (not committed).

Needs Debian's chromium and the playwright package (tests/support/web_sites.chromium): without
them the tests skip with the reason, and under CI=true they fail instead."""

import base64
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.support.registry_fixtures import picture
from tests.support.serving import prov_serve
from tests.support.web_sites import Site, chromium, reencoded, screenshot_path

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # one server


@contextmanager
def serving(site: Site, url: str, tmp_path: Path) -> Iterator[str]:
    options = ["--data-dir", str(site.data_dir), "--database", url]
    with prov_serve(options, tmp_path / "serve.log") as base:
        yield base


def _rgb(page: "Page", selector: str) -> tuple[int, int, int]:
    colour = page.locator(selector).evaluate("e => getComputedStyle(e).backgroundColor")
    found = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, [\d.]+)?\)", colour)
    assert found, colour
    red, green, blue = (int(v) for v in found.groups())
    return red, green, blue


def _upload(page: "Page", base: str, path: Path) -> None:
    page.goto(base + "/")
    page.set_input_files("#image", str(path))
    page.click("#check")
    page.wait_for_selector("#verdict, #error")


def test_verdict_colours_a_drop_and_offline_docs(
    clean_site: Site, migrated_url: str, tmp_path: Path
) -> None:
    exact, other, junk = tmp_path / "exact.png", tmp_path / "other.png", tmp_path / "notes.txt"
    exact.write_bytes(clean_site.image)
    other.write_bytes(picture(99))
    junk.write_bytes(b"not an image")
    with serving(clean_site, migrated_url, tmp_path) as base, chromium() as browser:
        page = browser.new_page()
        _upload(page, base, exact)
        red, green, blue = _rgb(page, "#verdict")
        assert green > red + 10 and green > blue, (red, green, blue)  # clean: green
        page.screenshot(path=str(screenshot_path("result-clean")), full_page=True)
        _upload(page, base, other)
        red, green, blue = _rgb(page, "#verdict")
        assert max(red, green, blue) - min(red, green, blue) <= 8, (red, green, blue)  # grey
        assert "proves nothing either way" in page.inner_text("#verdict")
        page.screenshot(path=str(screenshot_path("result-not-found")), full_page=True)
        _upload(page, base, junk)
        red, green, blue = _rgb(page, "#error")
        assert red > green + 15 and red > blue + 15, (red, green, blue)  # an error: red


def test_a_file_dropped_on_the_drop_zone_is_checked(
    clean_site: Site, migrated_url: str, tmp_path: Path
) -> None:
    """A real drop event on the drop zone, carrying a file, as a desktop's drag delivers it."""
    image = reencoded(clean_site.image)
    with serving(clean_site, migrated_url, tmp_path) as base, chromium() as browser:
        page = browser.new_page()
        page.goto(base + "/")
        with page.expect_navigation(timeout=10_000):
            page.evaluate(
                """data => {
                    const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
                    const transfer = new DataTransfer();
                    transfer.items.add(new File([bytes], "dropped.jpg", {type: "image/jpeg"}));
                    const zone = document.querySelector("form.drop");
                    for (const name of ["dragenter", "dragover", "drop"]) {
                        zone.dispatchEvent(new DragEvent(name, {dataTransfer: transfer, bubbles: true, cancelable: true}));
                    }
                }""",
                base64.b64encode(image).decode(),
            )
        page.wait_for_selector("#verdict")
        assert page.inner_text("#verdict").startswith("Near-duplicate")
        assert page.locator("img.thumb").evaluate("img => img.naturalWidth") > 0


def test_the_api_docs_render_with_every_off_host_request_refused(
    clean_site: Site, migrated_url: str, tmp_path: Path
) -> None:
    refused: list[str] = []
    with serving(clean_site, migrated_url, tmp_path) as base, chromium() as browser:
        local = urlsplit(base).netloc

        def only_local(route: "Route") -> None:
            url = route.request.url
            if urlsplit(url).netloc == local or url.startswith("data:"):
                route.continue_()
            else:
                refused.append(url)
                route.abort()

        page = browser.new_page()
        page.route("**/*", only_local)
        page.goto(base + "/docs")
        page.wait_for_selector(".opblock", timeout=15_000)
        assert page.locator(".opblock").count() >= 10
        page.goto(base + "/how-to-verify")
        page.screenshot(path=str(screenshot_path("how-to-verify")), full_page=True)
    assert refused == []


def test_cautions_are_amber_and_first_and_origins_fit_a_phone(
    caution_site: Site, migrated_url: str, tmp_path: Path
) -> None:
    found = tmp_path / "found.jpg"
    found.write_bytes(reencoded(caution_site.image))
    with serving(caution_site, migrated_url, tmp_path) as base, chromium() as browser:
        page = browser.new_page()
        _upload(page, base, found)
        red, green, blue = _rgb(page, "#verdict")
        assert red > green > blue and red - blue > 20, (red, green, blue)  # amber
        verdict = page.inner_text("#verdict")
        assert verdict.startswith("Caution:") and "compromise" in verdict, verdict
        page.screenshot(path=str(screenshot_path("result-caution")), full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(base + "/origins")
        assert phone.locator(
            f'tr.origin[data-device] a[href="/entries/{caution_site.index}"]'
        ).count()
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"/origins scrolls sideways by {overflow} px at 390 px"
        phone.screenshot(path=str(screenshot_path("origins-390px")), full_page=True)
        phone.click(f'a.evidence[href="/entries/{caution_site.index}"]')
        phone.wait_for_selector("#entry")
        assert "capture/v1" in phone.inner_text("#entry")
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the entry page scrolls sideways by {overflow} px at 390 px"
