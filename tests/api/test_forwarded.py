"""The rate limit's client behind reverse proxies: X-Forwarded-For is believed from
PROV_TRUSTED_PROXIES only, walked from the right; a spoofed header gets no fresh bucket, not
even from 127.0.0.1 through a real `prov serve`."""

import ipaddress
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.forwarded import client_address
from api.settings import ApiSettings
from ledger import LogConfig
from ledger.errors import ConfigurationError
from registry import RegistrySettings
from registry.config import IPNetwork
from tests.support.clocks import Seconds
from tests.support.prov_cli import Prov
from tests.support.serving import prov_serve

PROXY = "10.0.0.5"
EDGE = "10.1.0.7"
TRUSTED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("10.0.0.5"),
    ipaddress.ip_network("10.1.0.0/16"),
)


# --- the walk, alone ---


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("192.0.2.9", ["198.51.100.1"], "192.0.2.9"),  # untrusted peer: header ignored
        (PROXY, [], PROXY),  # a trusted proxy's own request
        (PROXY, ["198.51.100.1"], "198.51.100.1"),
        (PROXY, ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client's own entry: ignored
        (PROXY, ["198.51.100.1, " + EDGE], "198.51.100.1"),  # a chain of trusted proxies
        (PROXY, ["6.6.6.6", "198.51.100.1, " + EDGE], "198.51.100.1"),  # several headers
        (PROXY, [EDGE], EDGE),  # every hop trusted: the first
        (PROXY, ["not-an-ip, 198.51.100.1"], PROXY),  # malformed: the peer
        (PROXY, ["198.51.100.1,"], PROXY),
        (PROXY, ["198.51.100.1:443"], PROXY),
        (PROXY, ["2001:db8::1"], "2001:db8::1"),
        ("::ffff:10.0.0.5", ["198.51.100.1"], "198.51.100.1"),  # dual-stack form of PROXY
        ("testclient", ["198.51.100.1"], "testclient"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop(
    peer: str, forwarded: list[str], client: str
) -> None:
    assert client_address(peer, forwarded, TRUSTED) == client


def test_with_no_trusted_proxy_the_peer_is_the_client() -> None:
    assert client_address(PROXY, ["198.51.100.1"], ()) == PROXY


# --- settings ---


def test_trusted_proxies_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = LogConfig.from_env(tmp_path)
    monkeypatch.delenv("PROV_TRUSTED_PROXIES", raising=False)
    assert RegistrySettings.from_env(log).trusted_proxies == ()
    monkeypatch.setenv("PROV_TRUSTED_PROXIES", " 10.0.0.5, 10.1.0.0/16 ,,2001:db8::/32")
    assert RegistrySettings.from_env(log).trusted_proxies == (
        *TRUSTED,
        ipaddress.ip_network("2001:db8::/32"),
    )
    monkeypatch.setenv("PROV_TRUSTED_PROXIES", "10.0.0.5,proxy.local")
    with pytest.raises(ConfigurationError, match=re.escape("'proxy.local' is not an IP")) as e:
        RegistrySettings.from_env(log)
    assert "PROV_TRUSTED_PROXIES" in str(e.value)


# --- through the API ---


@contextmanager
def app_behind(settings: RegistrySettings, trusted: tuple[IPNetwork, ...]) -> Iterator[object]:
    limited = replace(settings, rate_limit=1, rate_burst=1, trusted_proxies=trusted)
    app = create_app(ApiSettings(limited, monotonic=Seconds()))
    try:
        yield app
    finally:
        app.state.prov.close()


def post_from(app: object, peer: str, forwarded: str | None = None) -> int:
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
    client = TestClient(app, client=(peer, 1))  # type: ignore[arg-type]
    status: int = client.post("/v1/devices", json={}, headers=headers).status_code
    return status


def test_a_spoofed_header_from_an_untrusted_peer_gets_no_fresh_bucket(
    writable_settings: RegistrySettings,
) -> None:
    with app_behind(writable_settings, TRUSTED) as app:
        assert post_from(app, "192.0.2.9", "198.51.100.1") == 400
        assert post_from(app, "192.0.2.9", "198.51.100.2") == 429
        assert post_from(app, "192.0.2.9") == 429


def test_clients_behind_a_trusted_proxy_are_told_apart(
    writable_settings: RegistrySettings,
) -> None:
    with app_behind(writable_settings, TRUSTED) as app:
        assert post_from(app, PROXY, "198.51.100.1") == 400
        assert post_from(app, PROXY, "198.51.100.1") == 429
        assert post_from(app, PROXY, "198.51.100.2") == 400  # another client, its own bucket
        # A client cannot escape its bucket by adding entries on the left...
        assert post_from(app, PROXY, "6.6.6.6, 198.51.100.1") == 429
        # ...and through a chain of proxies it is still the same client.
        assert post_from(app, PROXY, f"198.51.100.2, {EDGE}") == 429
        assert post_from(app, PROXY, f"198.51.100.3, {EDGE}") == 400


def test_proxies_are_trusted_only_when_configured(writable_settings: RegistrySettings) -> None:
    with app_behind(writable_settings, ()) as app:
        assert post_from(app, PROXY, "198.51.100.1") == 400
        assert post_from(app, PROXY, "198.51.100.2") == 429  # all one client: the proxy


def test_a_real_server_ignores_forwarded_for_from_localhost(
    tmp_path: Path, database_url: str
) -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 by default; `prov serve` must not."""
    data_dir = tmp_path / "server"
    Prov(data_dir, database_url).init()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    env |= {"PROV_RATE_LIMIT": "0.01", "PROV_RATE_BURST": "1"}
    options = ["--data-dir", str(data_dir), "--database", database_url]
    with prov_serve(options, tmp_path / "serve.log", env) as base_url:
        statuses = [
            httpx.post(
                f"{base_url}/v1/devices", json={}, headers={"X-Forwarded-For": f"198.51.100.{n}"}
            ).status_code
            for n in range(3)
        ]
    assert statuses == [400, 429, 429]
