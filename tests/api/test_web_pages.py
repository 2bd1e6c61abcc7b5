"""The fact-checker's pages as HTML (issue 17, "web"): what each says, on both databases. The
browser's view of them (colours, a drop, a phone's width) is tests/api/test_web_browser.py."""

import hashlib
import re

import pytest

from registry.wording import iso_utc
from tests.support.web_sites import Site, app_for, off_host_references, reencoded, rotated


def _text(html: str) -> str:
    """The page's words, tags dropped and spaces collapsed."""
    words = re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)>.*?</\1>", " ", html, flags=re.S))
    return re.sub(r"\s+", " ", words)


def test_a_form_sent_without_a_file_says_to_choose_an_image(
    clean_site: Site, migrated_url: str
) -> None:
    empty = {"image": ("", b"", "application/octet-stream")}  # what a browser sends
    with app_for(clean_site, migrated_url) as client:
        page = client.post("/", files=empty)
        api = client.post("/v1/lookup", files=empty)
    assert page.status_code == 400 and 'id="error"' in page.text
    assert "choose an image first" in page.text and "supported format" not in page.text
    assert api.status_code == 400, api.text
    assert "choose an image first" in api.json()["error"]["message"]


def test_origins_says_the_declared_compromise_date_and_when_it_was_reported(
    caution_site: Site, migrated_url: str
) -> None:
    with app_for(caution_site, migrated_url) as client:
        page = client.get("/origins")
        revocation = client.get(f"/entries/{caution_site.revocation}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "reported compromised" not in text
    logged = re.search(r"Logged at (\S+)", _text(revocation.text))
    assert logged is not None, revocation.text
    declared = iso_utc(caution_site.compromised_since)
    assert (
        f"log entry {caution_site.revocation} (device " in text
        and f"declared the compromise from {declared}; that report was logged at {logged[1]}"
        in text
    ), text


def test_counts_and_delays_read_as_words(clean_site: Site, migrated_url: str) -> None:
    with app_for(clean_site, migrated_url) as client:
        result = client.post("/", files={"image": ("same.png", clean_site.image, "image/png")})
        origins = client.get("/origins")
    text = _text(result.text)
    assert "1 second later" in text and "seconds later" not in text, text
    assert not re.search(r"\b1 (seconds|captures|devices)\b", _text(origins.text))
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)  # ISO 8601 UTC


def _footer_key(html: str) -> tuple[str, str]:
    vkey = re.search(r'<code id="vkey">([^<]+)</code>', html)
    fingerprint = re.search(r'<strong id="fingerprint">([0-9a-f]+)</strong>', html)
    assert vkey and fingerprint, html[-2000:]
    return vkey[1], fingerprint[1]


def test_every_page_shows_the_log_key_and_its_fingerprint_and_loads_nothing_off_host(
    caution_site: Site, migrated_url: str
) -> None:
    with app_for(caution_site, migrated_url) as client:
        vkey = client.get("/v1/log").json()["vkey"]
        upload = {"image": ("found.jpg", reencoded(caution_site.image), "image/jpeg")}
        pages = {
            "/": client.get("/"), "result": client.post("/", files=upload),
            "/origins": client.get("/origins"), "/how-to-verify": client.get("/how-to-verify"),
            "/entries/0": client.get("/entries/0"), "/docs": client.get("/docs"),
            "/redoc": client.get("/redoc"),
        }  # fmt: skip
        device = re.search(r'data-device="([0-9a-f]{64})"', pages["/origins"].text)
        assert device is not None
        pages["/origins/ID"] = client.get(f"/origins/{device[1]}")
    fingerprint = hashlib.sha256(vkey.encode()).hexdigest()[:16]
    for name, page in pages.items():
        assert page.status_code == 200, name
        assert off_host_references(page.text) == [], name
        if name not in ("/docs", "/redoc"):
            assert _footer_key(page.text) == (vkey, fingerprint), name
            assert "--log-key VKEY" not in page.text, name
            assert 'href="/verify"' in page.text and 'href="/how-to-verify"' in page.text


def test_how_to_verify_walks_through_install_key_sources_and_prov_verify(
    clean_site: Site, migrated_url: str
) -> None:
    with app_for(clean_site, migrated_url) as client:
        vkey = client.get("/v1/log").json()["vkey"]
        text = _text(client.get("/how-to-verify").text)
    for step in (
        "pip install", "log status", "/checkpoint", "witnesses", "published statement",
        "sha256sum", f"prov verify capture-N.bundle.json --log-key {vkey}", "in your browser",
    ):  # fmt: skip
        assert step in text, step


def test_the_docs_and_their_assets_are_served_from_the_package(
    clean_site: Site, migrated_url: str
) -> None:
    with app_for(clean_site, migrated_url) as client:
        docs, redoc = client.get("/docs"), client.get("/redoc")
        assets = re.findall(r"""(?:src|href)=["'](/docs/assets/[^"']+)""", docs.text + redoc.text)
        assert {a.rsplit("/", 1)[1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
        for asset in set(assets):
            served = client.get(asset)
            assert served.status_code == 200 and len(served.content) > 1000, asset
        assert client.get("/docs/assets/..%2Fcore.py").status_code == 404
        assert client.get("/docs/assets/core.py").status_code == 404
    assert "cdn." not in docs.text and "fonts.googleapis" not in redoc.text


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda data: data, "the same file"),
        (reencoded, "the same picture, re-encoded"),
        (rotated, "found rotated by a quarter turn"),
    ],
    ids=["exact", "reencoded", "rotated"],
)
def test_likeness_is_said_in_words_beside_the_numbers(
    clean_site: Site, migrated_url: str, edit: object, words: str
) -> None:
    assert callable(edit)
    with app_for(clean_site, migrated_url) as client:
        page = client.post("/", files={"image": ("found.png", edit(clean_site.image), "image/png")})
    text = _text(page.text)
    assert words in text, text
    assert "SHA-256 match" in text if words == "the same file" else "PDQ distance" in text


def test_not_found_is_neutral_and_says_what_edits_can_hide(
    clean_site: Site, migrated_url: str
) -> None:
    from tests.support.registry_fixtures import picture

    with app_for(clean_site, migrated_url) as client:
        page = client.post("/", files={"image": ("other.png", picture(99), "image/png")})
    assert 'class="verdict neutral"' in page.text
    text = _text(page.text)
    assert "proves nothing either way" in text
    assert "cropped, rotated or collaged copies may not be found" in text
    assert "least-edited copy" in text


def test_later_registrations_are_marked_and_link_to_their_origin(
    rival_site: Site, migrated_url: str
) -> None:
    with app_for(rival_site, migrated_url) as client:
        page = client.post(
            "/", files={"image": ("x.jpg", reencoded(rival_site.image), "image/jpeg")}
        )
    rows = re.findall(r'<tr class="match[^"]*" data-index="(\d+)">(.*?)</tr>', page.text, re.S)
    by_index = {int(index): _text(row) for index, row in rows}
    assert rival_site.later is not None
    assert set(by_index) == {rival_site.index, rival_site.later}, by_index
    assert "first logged" in by_index[rival_site.index]
    assert f"logged later than #{rival_site.index}" in by_index[rival_site.later]
    assert 'class="verdict caution"' in page.text  # another device registered it first
    origins = re.findall(r'class="origin" href="(/origins/[0-9a-f]{64})"', page.text)
    assert len(set(origins)) == 2, origins  # two devices, each its own origin page
    with app_for(rival_site, migrated_url) as client:
        pages = [client.get(path) for path in origins]
    assert all(p.status_code == 200 and 'id="origin"' in p.text for p in pages)
    later_device = [p for p in pages if 'id="no-signals"' not in p.text]
    assert len(later_device) == 1 and "another device registered" in _text(later_device[0].text)


def test_origins_links_evidence_to_readable_entry_pages(
    caution_site: Site, migrated_url: str
) -> None:
    with app_for(caution_site, migrated_url) as client:
        origins = client.get("/origins").text
        links = re.findall(r'class="evidence" href="(/entries/\d+)"', origins)
        assert f"/entries/{caution_site.index}" in links
        entry = client.get(f"/entries/{caution_site.index}")
    assert 'href="/v1/log/entries/' not in origins  # raw base64 JSON
    text = _text(entry.text)
    assert entry.status_code == 200 and "capture/v1" in text
    assert re.search(r"claim\.captured_at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), text
    assert "sig " in text and "bytes (base64" in text  # a signature by its size, not its bytes
    assert f'href="/v1/bundles/{caution_site.index}"' in entry.text


def test_origins_draws_no_registrant_in_alarm_red(rival_site: Site, migrated_url: str) -> None:
    with app_for(rival_site, migrated_url) as client:
        page = client.get("/origins").text
    figure = re.search(r'<figure class="cluster".*?</figure>', page, re.S)
    assert figure is not None, page
    svg = figure[0]
    anchor = re.search(r'<circle class="anchor"[^>]* fill="(#[0-9a-f]{6})"', svg)
    first_row = re.search(r'<text [^>]*fill="(#[0-9a-f]{6})">[^<]*\(first\)</text>', svg)
    assert anchor and first_row and anchor[1] == first_row[1], svg
    for colour in re.findall(r'fill="#([0-9a-f]{6})"', svg):
        red, green, blue = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
        assert not (red > 180 and green < 90 and blue < 90), f"#{colour} is alarm red"
    assert f'href="/entries/{rival_site.index}"' in svg
