"""The in-browser bundle verifier at GET /verify (issue 17): one self-contained page, and a second,
independent implementation of registry/bundle/verify.py. The shared vectors
(tests/support/verify_vectors.py) are verified by both; the page runs in headless Chromium,
opened from a file:// URL with every other request blocked, and must agree with Python on
pass/fail, the failing check's number, the cautions, the checks made and the times stated.

Needs /usr/bin/chromium and the playwright package, as tests/api/test_web.py does: it skips
without them, and fails instead under CI=true.
"""

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import ROUTERS
from api.routers import verify_page
from ledger.errors import MalformedError
from registry.bundle.format import _load  # the reader parse_bundle uses
from tests.support.verify_vectors import Vector, python_verdict, write_vectors
from tests.support.verify_vectors_json import make_vectors
from tests.support.web_sites import CHROMIUM, chromium_or_skip

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:"
)


@pytest.fixture(scope="module")
def vectors() -> list[Vector]:
    made = make_vectors()
    write_vectors(made, RESULTS / "verify_vectors.json")
    return made


def test_the_route_serves_one_self_contained_page() -> None:
    assert verify_page in ROUTERS
    app = FastAPI()
    app.include_router(verify_page.router)
    response = TestClient(app).get("/verify")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f'content="{CSP}"' in html
    # Nothing loaded from anywhere: no external script, style, image or link to fetch.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    assert "/*SCRIPTS*/" not in html and "async function verifyBundle" in html
    for call in ("fetch(", "XMLHttpRequest", "WebSocket", "EventSource", "sendBeacon", "import("):
        assert call not in html, call


def test_python_rejects_every_tampered_vector(vectors: list[Vector]) -> None:
    """The vectors cannot rot into all-pass: each mutation fails the Python verifier, each
    valid bundle passes it, and the set covers every check the mutations aim at."""
    names = {v.name for v in vectors}
    assert len(names) == len(vectors) and len(vectors) >= 20
    for vector in vectors:
        expected = vector.expected
        if vector.malformed:
            assert expected["verdict"] == "malformed", (vector.name, expected)
        elif vector.tampered:
            assert expected["verdict"] == "failed", (vector.name, expected)
        else:
            assert expected["verdict"] in ("clean", "cautions"), (vector.name, expected)
    failing = {v.expected["failed_check"] for v in vectors if v.tampered and not v.malformed}
    assert failing == {1, 2, 3, 4, 5, 6, 7, 8, 10}
    by_name = {v.name: v.expected for v in vectors}
    assert by_name["valid-with-revocation"]["cautions"] == ["captured_in_compromise_window"]
    assert by_name["valid-without-status"]["cautions"] == ["revocation_status_unproven"]


def test_formatting_changes_no_verdict(vectors: list[Vector]) -> None:
    """A bundle saved again in another JSON formatting is the same bundle to Python; the page
    must then agree with it on these too (design 4.5)."""
    by_name = {v.name: v for v in vectors}
    again = [v for v in vectors if "/" in v.name]
    assert {v.name.split("/")[1] for v in again} >= {"indent-2", "keys-reversed", "crlf"}
    assert len(again) >= 5 * 7
    for vector in again:
        original = by_name[vector.name.split("/")[0]]
        assert vector.bundle != original.bundle
        assert vector.expected == original.expected, vector.name
    assert sum(v.malformed for v in vectors) >= 10
    # JSON integers that parse, but are no index of these entries: check 3 fails, on both sides.
    for name in ("index-beyond-2^53", "index-minus-zero", "unknown-field-in-capture"):
        assert by_name[name].expected["failed_check"] == 3, name


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page as a visitor saves it, opened later from disk."""
    path = tmp_path_factory.mktemp("saved") / "verify.html"
    path.write_text(verify_page.verify_page(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser_page(page_file: Path) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium page on the saved file, every request but file:// aborted (and recorded)."""
    chromium_or_skip()
    from playwright.sync_api import Route, sync_playwright

    blocked: list[str] = []

    def only_files(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        context = browser.new_context()
        context.route("**/*", only_files)
        page = context.new_page()
        page.goto(page_file.as_uri())
        yield page, blocked
        browser.close()


def run_page(page: Any, page_file: Path, vector: Vector) -> dict[str, Any]:
    """Verify the vector with the page as a person would: paste, choose the image, click."""
    page.goto(page_file.as_uri())
    page.fill("#log-key", vector.log_key)
    page.fill("#witness-keys", "\n".join(vector.witness_keys))
    if vector.saved:
        # As a chosen file, byte for byte: a textarea would turn CRLF into LF.
        saved = {
            "name": "bundle.json",
            "mimeType": "application/json",
            "buffer": vector.bundle.encode(vector.encoding),
        }
        page.set_input_files("#bundle-file", files=[saved])
    else:
        page.fill("#bundle-text", vector.bundle)
    if vector.image is not None:
        payload = {
            "name": "found.png",
            "mimeType": "image/png",
            "buffer": base64.b64decode(vector.image),
        }
        page.set_input_files("#image-file", files=[payload])
    page.click("#verify")
    verdict = page.wait_for_selector("#verdict", timeout=20_000)
    assert verdict is not None
    failed = verdict.get_attribute("data-failed-check") or ""
    cautions = verdict.get_attribute("data-cautions") or ""
    return {
        "verdict": verdict.get_attribute("data-verdict"),
        "failed_check": int(failed) if failed else None,
        "cautions": cautions.split(",") if cautions else [],
        "checks": page.eval_on_selector_all(
            "li[data-check]", "items => items.map(i => i.dataset.check)"
        ),
        "times": page.eval_on_selector_all("ul.times li", "items => items.map(i => i.textContent)"),
        "text": page.inner_text("#result"),
    }


def test_the_page_agrees_with_python_on_every_vector(
    vectors: list[Vector], browser_page: tuple[Any, list[str]], page_file: Path
) -> None:
    page, blocked = browser_page
    disagreements = []
    for vector in (v for v in vectors if v.ported):
        seen = run_page(page, page_file, vector)
        text = seen.pop("text")
        if seen != vector.expected:
            disagreements.append((vector.name, vector.expected, seen, text))
    assert not disagreements, disagreements
    assert blocked == []


def test_the_page_says_what_it_checked_and_what_it_did_not(
    vectors: list[Vector], browser_page: tuple[Any, list[str]], page_file: Path
) -> None:
    page, _ = browser_page
    by_name = {v.name: v for v in vectors}
    clean = run_page(page, page_file, by_name["valid-p256-intermediate"])["text"]
    assert "Bundle verified: clean." in clean
    assert "\n2 witness cosignatures: none given" in clean and "cosignatures: ok" not in clean
    assert (
        "10 image matches the capture: ok: the image is the registered file (same SHA-256)" in clean
    )
    assert re.search(r"captured \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(the device says so", clean)
    page.screenshot(path=str(RESULTS / "verify_page_clean.png"), full_page=True)
    witnessed = run_page(page, page_file, by_name["valid-with-witness"])["text"]
    assert "existed no later than" in witnessed and "witness.example/w1 at" in witnessed
    other = run_page(page, page_file, by_name["image-not-matching"])["text"]
    assert "failed at check 10" in other and "prov verify --image" in other
    cautioned = run_page(page, page_file, by_name["valid-with-revocation"])["text"]
    assert cautioned.index("caution captured_in_compromise_window") < cautioned.index(
        "1 checkpoint"
    )
    page.screenshot(path=str(RESULTS / "verify_page_cautions.png"), full_page=True)


def test_what_the_page_does_not_port_is_never_clean(
    vectors: list[Vector], browser_page: tuple[Any, list[str]], page_file: Path
) -> None:
    """A scoped revocation (revocation/v2) is not ported: the page says so, and its verdict is
    not clean, where Python cautions it."""
    page, _ = browser_page
    (vector,) = [v for v in vectors if not v.ported]
    assert vector.expected["verdict"] == "cautions", vector.expected
    seen = run_page(page, page_file, vector)
    assert seen["verdict"] == "incomplete", seen
    assert "not checked here: use prov verify" in seen["text"]
    assert "Not fully checked here" in seen["text"] and "verified: clean" not in seen["text"]


def test_input_that_is_not_a_bundle_is_malformed_not_failed(
    vectors: list[Vector], browser_page: tuple[Any, list[str]], page_file: Path
) -> None:
    page, _ = browser_page
    bad = Vector("not-a-bundle", '{"format": "something else"}', vectors[0].log_key)
    seen = run_page(page, page_file, bad)
    assert seen["verdict"] == "malformed" and "Nothing was verified" in seen["text"], seen
    with pytest.raises(MalformedError):
        python_verdict(bad)
    garbled_key = Vector("bad-key", vectors[0].bundle, vectors[0].log_key[:-4] + "AAAA")
    assert run_page(page, page_file, garbled_key)["verdict"] == "malformed"


def test_the_log_key_can_be_pinned(
    browser_page: tuple[Any, list[str]], page_file: Path, vectors: list[Vector]
) -> None:
    page, _ = browser_page
    vector = vectors[0]
    page.goto(page_file.as_uri())
    page.fill("#log-key", vector.log_key)
    page.check("#pin")
    page.fill("#bundle-text", vector.bundle)
    page.click("#verify")
    page.wait_for_selector("#verdict")
    page.goto(page_file.as_uri())
    assert page.input_value("#log-key") == vector.log_key


# JSON texts at the edges of the grammar, each read by the page's readJson and by
# registry/bundle/format.py's reader: both must accept it, as the same value, or both refuse it.
EDGE_JSON = [
    '{"a":1,"a":1}', '{"a":{"b":1,"b":2}}', '[{"k":1},{"k":1}]', '{"__proto__":1}',
    "1.0", "1e3", "-1E-2", "NaN", "Infinity", "-Infinity", "-0", "01", "-", "1.",
    "9007199254740993", "-9007199254740993", "1" * 4300, "1" * 4301,
    '"\\u00e9\\ud800\\uDFFF\\/"', '"\\x"', '"\\u12"', '"a\tb"', '"\u2014"', '"\x7f"',
    " \t\r\n[1 , 2]\r\n", "\f1", "\u00a01", "[1,]", '{"a":1,}', "{1:2}", "[1]x", "", "tru",
    '{"a":true,"b":false,"c":null}', "[" * 300 + "]" * 300, "[" * 2000 + "]" * 2000,
]  # fmt: skip


def _comparable(value: Any) -> Any:
    """The value as the page's result is compared: integers beyond 2^53 tagged, as BigInts are."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if type(value) is int and abs(value) > 2**53 - 1:
        return f"bigint:{value}"
    return value


def test_the_page_reads_json_as_strictly_as_python(
    browser_page: tuple[Any, list[str]], page_file: Path
) -> None:
    page, _ = browser_page
    page.goto(page_file.as_uri())
    seen = page.evaluate(
        """texts => texts.map((t) => {
             try {
               const tag = (k, v) => (typeof v === "bigint" ? `bigint:${v}` : v);
               return { ok: true, value: JSON.stringify(readJson(t, "the bundle"), tag) };
             } catch (e) { return { ok: false, why: e instanceof Fail ? "Fail" : String(e) }; }
           })""",
        EDGE_JSON,
    )
    disagreements = []
    for text, page_read in zip(EDGE_JSON, seen, strict=True):
        try:
            python: Any = {"ok": True, "value": _comparable(_load(text.encode()))}
        except MalformedError:
            python = {"ok": False, "why": "Fail"}
        if page_read["ok"]:
            page_read["value"] = json.loads(page_read["value"])
        if page_read != python:
            disagreements.append((text[:60], python, page_read))
    assert not disagreements, disagreements
