"""What `prov log status` reports: of the local log (its database and key file) or of a server
(GET /v1/log, the key as the server states it)."""

import base64
from typing import Any

from rich.markup import escape

from cli.client import HttpClient
from cli.common import console
from ledger import LogConfig, LogStore, open_engine
from ledger.database import describe
from ledger.errors import UnavailableError
from ledger.published import refusal
from registry.wording import key_fingerprint


def local_status(config: LogConfig) -> dict[str, Any]:
    store = LogStore(open_engine(config.database_url))
    latest = store.latest_checkpoint()
    verifier = config.load_verifier()
    report: dict[str, Any] = {
        "origin": latest.checkpoint.origin,
        "tree_size": latest.size,
        "root_hash": base64.b64encode(latest.checkpoint.root_hash).decode(),
        "vkey": verifier.vkey if verifier else None,
        "fingerprint": key_fingerprint(verifier.vkey) if verifier else None,
        "database": describe(store.engine),
        "published": None if (mark := config.published_mark().read()) is None else mark.size,
        "refusing": None,
    }
    if verifier is not None and (problem := refusal(store, config.published_mark())):
        report["refusing"] = {"code": problem.code, "message": str(problem)}
    return report


def print_local_status(report: dict[str, Any]) -> None:
    for key, value in report.items():
        if key in ("published", "refusing"):
            continue
        shown = value if value is not None else "(the log key is not on this machine)"
        console.print(f"[bold]{key:>11}[/] {shown}", soft_wrap=True)
    if report["refusing"] is not None:
        console.print(
            f"[bold red]REFUSING TO SEQUENCE:[/] {escape(report['refusing']['message'])}",
            soft_wrap=True,
        )


def remote_status(server: str) -> dict[str, Any]:
    """What the server says of its log (GET /v1/log). Its key is as the server states it: check
    it against another source (the operator's statement, a witness) before pinning it."""
    client = HttpClient(server)
    try:
        info = client.log_info()
    finally:
        client.close()
    if not isinstance(info, dict) or not isinstance(info.get("tree_size"), int):
        raise UnavailableError(
            f"{server}/v1/log is not a log's status: check --server / PROV_SERVER",
            code="not_a_server",
        )
    report = {key: info.get(key) for key in ("origin", "tree_size", "root_hash", "vkey")}
    vkey = report["vkey"]
    report["fingerprint"] = key_fingerprint(vkey) if isinstance(vkey, str) else None
    return report | {"server": server, "checkpoint": info.get("checkpoint")}
