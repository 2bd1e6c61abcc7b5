"""The auditor's commands: `prov audit watch` and `prov audit replay` check a log from the
outside (no database, only its HTTP tiles and checkpoints); `prov clusters` reports
near-duplicate clusters and suspicious origins, recomputable by anyone from the log at a size
(it acts where cli/common.open_client says)."""

import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cli.common import json_option, open_client, witness_keys_required
from cli.errors import EXIT_FAILED
from ledger import Verifier, open_checkpoint
from ledger.errors import MalformedError
from ledger.monitor import ForkAlarm, Seen, describe, watch_once
from ledger.remote import RemoteLog
from registry.audit.replay import ReplayReport, replay_log
from registry.wording import duration

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

log_key_option = click.option(
    "--log-key", required=True, envvar="PROV_LOG_VKEY", help="The log's pinned verifier key (vkey)."
)


@click.group()
def audit() -> None:
    """Check a log from the outside: its checkpoints never fork, its entries all follow the rules."""


@audit.command()
@click.argument("url")
@log_key_option
@click.option(
    "--state", "state_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the last checkpoint this monitor accepted (created on the first run).",
)  # fmt: skip
@click.option(
    "--evidence-dir", type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the two checkpoints of an alarm [next to the state file].",
)  # fmt: skip
@click.option(
    "--compare", "compare_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
    help="A checkpoint another party saw (a witness's cosigned copy, another auditor's); repeatable.",
)  # fmt: skip
@click.option(
    "--compare-url", "compare_urls", multiple=True,
    help="Another view of the log: a mirror, a cache, the same log seen from elsewhere (its "
    "/checkpoint); repeatable.",
)  # fmt: skip
@click.option(
    "--interval", type=click.FloatRange(min=0.1),
    help="Check again every this many seconds (until an alarm or Ctrl-C); default: once.",
)  # fmt: skip
def watch(
    url: str,
    log_key: str,
    state_path: Path,
    evidence_dir: Path | None,
    compare_files: tuple[Path, ...],
    compare_urls: tuple[str, ...],
    interval: float | None,
) -> None:
    """Verify the log's checkpoint at URL and that it extends every checkpoint seen before."""
    key = Verifier.from_vkey(log_key)
    files = [_seen(path, key) for path in compare_files]
    evidence = evidence_dir or state_path.parent / "evidence"
    with RemoteLog(url) as remote:
        while True:
            others = files + [_fetched(other, key) for other in compare_urls]
            try:
                result = watch_once(
                    remote.checkpoint, remote.consistency_proof, key, state_path, evidence, others
                )
            except ForkAlarm as alarm:
                errors.print(f"[bold red]ALARM[/] {escape(str(alarm))}")
                raise SystemExit(EXIT_FAILED) from None
            before = describe(result.previous) if result.previous else "nothing (first run)"
            console.print(
                f"[green]ok[/] {escape(result.checkpoint.origin)}: {describe(result.checkpoint)} "
                f"extends {before}"
                + (
                    f"; agrees with {result.compared} other checkpoint(s)"
                    if result.compared
                    else ""
                )
            )
            if interval is None:
                return
            time.sleep(interval)


@audit.command()
@click.argument("url")
@log_key_option
@click.option(
    "--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Save progress here and resume from it (it also pins the history already verified).",
)  # fmt: skip
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True,
              help="Processes verifying signatures.")  # fmt: skip
@click.option(
    "--witness-key", "witness_keys", multiple=True, envvar="PROV_WITNESS_VKEYS",
    help="A witness's cosignature vkey: no entry may be logged after the witnesses cosigned "
    "it. Repeatable.",
)  # fmt: skip
@click.option(
    "--min-witnesses", type=click.IntRange(0), default=None,
    help="How many of the given witnesses must have cosigned [1 if any --witness-key].",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def replay(
    url: str,
    log_key: str,
    state_path: Path | None,
    workers: int,
    witness_keys: tuple[str, ...],
    min_witnesses: int | None,
    as_json: bool,
) -> None:
    """Download every entry of the log at URL through its tiles and re-check all of it."""
    key = Verifier.from_vkey(log_key)
    witnesses, required = witness_keys_required(witness_keys, min_witnesses)
    columns = (
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), disable=as_json) as progress:
        task = progress.add_task("replay", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with RemoteLog(url) as remote:
            report = replay_log(
                remote, key, state_path=state_path, workers=workers, on_progress=advance,
                witnesses=witnesses, min_witnesses=required,
            )  # fmt: skip
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report)
    if not report.ok:
        raise SystemExit(EXIT_FAILED)


def _print_report(report: ReplayReport) -> None:
    resumed = f", resumed from {report.started_at}" if report.started_at else ""
    console.print(
        f"{report.checkpoint.origin}: {report.checkpoint.size} entries, {report.entries} checked "
        f"in {report.seconds:.1f} s ({report.entries_per_second:,.0f} entries/s){resumed}"
    )
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(report.counts.items()))
    console.print(f"entries by kind: {kinds or 'none'}")
    for finding in report.findings:
        console.print(f"[red]TREE[/] {escape(finding.where)}: {escape(finding.reason)}")
    _print_status(report)
    for entry in report.invalid:
        console.print(
            f"[red]INVALID[/] entry {entry.index} ({entry.kind}, {entry.code}): "
            f"{escape(entry.reason)}"
        )
    # Cautions are not the operator's fault: a valid log can hold them (a thief's capture,
    # backdated to before the compromise, follows every rule). Listed, counted, exit code 0.
    for caution in report.cautions:
        console.print(
            f"[yellow]CAUTION[/] entry {caution.index} ({caution.kind}, {caution.code}): "
            f"{escape(caution.reason)} (evidence: entries {', '.join(map(str, caution.evidence))})"
        )
    if report.ok and report.cautions:
        console.print(
            "[bold green]the log verifies: tree, tiles, root and every entry[/]; "
            f"[yellow]{len({c.index for c in report.cautions})} capture(s) with cautions[/] "
            "(listed above)"
        )
    elif report.ok:
        console.print("[bold green]the log verifies: tree, tiles, root and every entry[/]")
    else:
        console.print("[bold red]the log does NOT verify[/]")


def _print_status(report: ReplayReport) -> None:
    """The status commitment's check; a finding with its evidence and the note as signed."""
    if report.status is not None and not report.status_findings:
        console.print(f"status commitment: {escape(report.status.detail)}")
    for finding in report.status_findings:
        evidence = ", ".join(map(str, finding.evidence)) or "none named"
        console.print(
            f"[red]STATUS[/] checkpoint {finding.tree_size} ({finding.code}): "
            f"{escape(finding.reason)} (evidence: entries {evidence})"
        )
        console.print(f"       the note as signed: {escape(finding.note)!r}")


def _fetched(url: str, key: Verifier) -> Seen:
    with RemoteLog(url) as other:
        note = other.checkpoint()
    return Seen(note, open_checkpoint(note, key), f"{url}/checkpoint")


def _seen(path: Path, key: Verifier) -> Seen:
    try:
        note = path.read_bytes()
    except OSError as exc:
        raise MalformedError(f"cannot read {path}: {exc.strerror}") from None
    return Seen(note, open_checkpoint(note, key), str(path))


@click.command()
@click.option("--at", "at", type=click.IntRange(0), help="Tree size to compute at [latest].")
@json_option
@click.option("--top", default=10, show_default=True, type=click.IntRange(1), help="Rows shown.")
@click.pass_context
def clusters(ctx: click.Context, at: int | None, as_json: bool, top: int) -> None:
    """Near-duplicate clusters and suspicious origins, recomputable from the log at a size."""
    with open_client(ctx) as client:
        data = client.clusters(at)
    if as_json:
        click.echo(data.decode())
        return
    report = json.loads(data)
    checkpoint = report["checkpoint"]
    console.print(
        f"origins at tree size {checkpoint['tree_size']} (root {checkpoint['root_hash']}): "
        f"{report['captures']} captures, {len(report['clusters'])} clusters"
    )
    _print_origins(report, top)
    console.print(_clusters_table(report["clusters"][:top]))


def _print_origins(report: dict[str, Any], top: int) -> None:
    """The devices with any signal, the suspicious ones marked, then the vendors."""
    suspicious = [d for d in report["devices"] if d["suspicious"]]
    console.print(
        f"[bold]suspicious devices[/]: {len(suspicious)} of {len(report['devices'])} with any signal"
    )
    for row in report["devices"][:top]:
        mark = "[red]![/]" if row["suspicious"] else " "
        console.print(
            f"{mark} {row['device'][:16]} ({escape(row['vendor_name'])}) score {row['score'] / 1000:.2f}: "
            + escape("; ".join(row["reasons"]))
        )
    if report["vendors"]:
        console.print("[bold]vendors[/]")
        for row in report["vendors"][:top]:
            console.print(
                f"  {escape(row['vendor_name'])}: score {row['score'] / 1000:.2f}, "
                f"{row['suspicious_devices']} suspicious device(s)"
            )


def _clusters_table(groups: list[dict[str, Any]]) -> Table:
    table = Table("anchor", "members", "devices", "roles", "span")
    for group in groups:
        table.add_row(
            str(group["anchor"]), str(len(group["members"])), str(len(group["devices"])),
            ", ".join(group["roles"]), duration(group["span_ms"]),
        )  # fmt: skip
    return table
