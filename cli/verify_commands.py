"""The fact-checker's `prov verify`: a proof bundle checked offline, with nothing but the bundle
and the keys it is given; with `--refresh URL`, also the capture's revocation status now, from a
fresh bundle the log at URL serves (registry.bundle.refresh: checked as offline, and shown to
extend the old bundle's checkpoint)."""

import json
from typing import Any

import click
from rich.markup import escape

from cli.client import HttpClient
from cli.common import console, json_option, print_cautions, witness_keys_required
from cli.errors import EXIT_CAUTION, EXIT_FAILED
from cli.files import read_input_file
from ledger import Verifier
from ledger.remote import RemoteLog
from registry.bundle.refresh import Refreshed, refresh_bundle
from registry.bundle.verify import BundleReport, ImageQuery, verify_bundle
from registry.imaging.hashing import query_hashes

WITNESS_CHECK = "witness cosignatures"  # check 2's name (registry.bundle.verify)


@click.command()
@click.argument("bundle_file", metavar="BUNDLE", type=click.Path(dir_okay=False))
@click.option(
    "--log-key", required=True, envvar="PROV_LOG_VKEY", help="The log's verifier key (vkey)."
)
@click.option(
    "--image", type=click.Path(dir_okay=False), help="Also check this image against the capture."
)
@click.option(
    "--witness-key", "witness_keys", multiple=True, envvar="PROV_WITNESS_VKEYS",
    help="A witness's cosignature vkey: its cosignature dates the capture. Repeatable.",
)  # fmt: skip
@click.option(
    "--min-witnesses", type=click.IntRange(0), default=None,
    help="How many of the given witnesses must have cosigned [1 if any --witness-key].",
)  # fmt: skip
@click.option(
    "--refresh", "refresh_url", metavar="URL",
    help="Also fetch a fresh bundle of the capture from the log at URL, check it the same way "
    "and that its checkpoint extends this one's, and report the revocation status now.",
)  # fmt: skip
@json_option
@click.pass_context
def verify(
    ctx: click.Context,
    bundle_file: str,
    log_key: str,
    image: str | None,
    witness_keys: tuple[str, ...],
    min_witnesses: int | None,
    refresh_url: str | None,
    as_json: bool,
) -> None:
    """Check a proof bundle offline: checkpoint, witnesses, inclusion, revocation status, chain,
    signature, image."""
    key = Verifier.from_vkey(log_key)
    witnesses, required = witness_keys_required(witness_keys, min_witnesses)
    image_hashes: ImageQuery | None = None
    data = None
    if image:
        data = read_input_file(image, "image")
        image_hashes = query_hashes(data, image)
    bundle = read_input_file(bundle_file, "bundle")
    report = verify_bundle(bundle, key, image_hashes, witnesses, required, data)
    if refresh_url is None:
        _show(report, as_json)
        ctx.exit(_exit_code(report.ok, report))
    with _FreshSource(refresh_url) as source:
        refreshed = refresh_bundle(bundle, source, key, witnesses, required, image_hashes, data)
    _show_refreshed(report, refreshed, refresh_url, as_json)
    ctx.exit(_exit_code(report.ok and refreshed.ok, refreshed.report))


def _exit_code(ok: bool, report: BundleReport | None) -> int:
    """1 if anything failed, else 4 if the (freshest) report carries cautions, else 0."""
    if not ok:
        return EXIT_FAILED
    return EXIT_CAUTION if report is not None and report.cautions else 0


class _FreshSource:
    """A fresh bundle and consistency proofs from the log at a URL (its HTTP API)."""

    def __init__(self, url: str) -> None:
        self._log = RemoteLog(url)  # refuses a URL that is not http(s)
        self._client = HttpClient(url, hint="is the log running? check the --refresh URL")

    def __enter__(self) -> "_FreshSource":
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()
        self._log.close()

    def bundle(self, index: int) -> bytes:
        return self._client.bundle(index)

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        return self._log.consistency_proof(old, new)


# --- rendering ---


def _report_json(report: BundleReport) -> dict[str, Any]:
    checks = [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks]
    times = [{"what": t.what, "at_ms": t.at_ms, "vouched_by": t.vouched_by} for t in report.times]
    return {
        "ok": report.ok,
        "checks": checks,
        "times": times,
        "cautions": [c.to_json() for c in report.cautions],
        "status": report.status.to_json() if report.status is not None else None,
    }


def _show(report: BundleReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_report_json(report), indent=2))
        return
    print_cautions([c.to_json() for c in report.cautions])
    _print_checks(report)
    if not report.ok:
        console.print("[bold red]bundle does NOT verify[/]")
        return
    if report.status is not None and not report.status.proven:
        console.print(
            "[yellow]its revocation status is not proven[/]: run prov verify again with "
            "--refresh URL (the log's address) to check the status now"
        )
    if report.cautions:
        console.print(
            f"[bold yellow]bundle verified, with cautions[/]: {len(report.cautions)} listed above"
        )
    else:
        console.print("[bold green]bundle verified[/]")


def _print_checks(report: BundleReport) -> None:
    for number, check in enumerate(report.checks, start=1):
        mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}")
        if number == 1 and check.ok and not _witnessed(report):
            # Check 2 ran on no witness key: nothing vouches for the checkpoint, which is
            # not the same as a witness having vouched for it.
            console.print(
                f"[yellow]none given[/] {WITNESS_CHECK}: no witness key was given, so no "
                "witness vouches for this checkpoint (add --witness-key VKEY for each witness "
                "you trust)"
            )
    for claim in report.times:
        console.print(f"     {escape(claim.describe())}")


def _witnessed(report: BundleReport) -> bool:
    return any(check.name == WITNESS_CHECK for check in report.checks)


def _status_line(report: BundleReport | None) -> str:
    status = report.status if report is not None else None
    if status is None:
        return "unknown (the bundle did not verify)"
    return f"{status.as_of()}: {status.summary()}"


def _show_refreshed(old: BundleReport, refreshed: Refreshed, url: str, as_json: bool) -> None:
    fresh = refreshed.report
    ok = old.ok and refreshed.ok
    if as_json:
        result = {
            "ok": ok,
            "cautions": [c.to_json() for c in (fresh.cautions if fresh else old.cautions)],
            "status": {
                "then": old.status.to_json() if old.status else None,
                "now": fresh.status.to_json() if fresh and fresh.status else None,
            },
            "bundle": _report_json(old),
            "refresh": {
                "url": url,
                "ok": refreshed.ok,
                "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in refreshed.checks],
                "bundle": _report_json(fresh) if fresh is not None else None,
            },
        }  # fmt: skip
        click.echo(json.dumps(result, indent=2))
        return
    # The cautions now come first: they are what the log knows against the capture today.
    shown = fresh if refreshed.ok and fresh is not None else old
    print_cautions([c.to_json() for c in shown.cautions])
    _print_checks(old)
    console.print(f"refreshed from {escape(url)}:")
    for check in refreshed.checks:
        mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}")
    console.print(f"status {escape(_status_line(old))}")
    if refreshed.ok:
        console.print(f"now, status {escape(_status_line(fresh))}")
    if not ok:
        what = "bundle does NOT verify" if not old.ok else "the refresh FAILED"
        console.print(f"[bold red]{what}[/]")
    elif fresh is not None and fresh.cautions:
        console.print(
            f"[bold yellow]bundle verified, with cautions now[/]: {len(fresh.cautions)} listed above"
        )
    else:
        console.print("[bold green]bundle verified, and still clean now[/]")
