"""`prov demo`: build a small log, serve it, and verify what the server says, offline.

Each step prints what was checked. The data stays in ./demo-data, so `prov --data-dir
demo-data serve` can serve it afterwards.
"""

import base64
import json
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import click
import uvicorn
from rich.console import Console
from rich.progress import Progress

import migrations
from api import create_app
from ledger import (
    LogConfig,
    LogStore,
    Sequencer,
    TlogProof,
    hash_leaf,
    open_checkpoint,
    open_engine,
    verify_consistency,
    verify_inclusion,
)

ORIGIN = "demo.provenance-ledger.example/log"
console = Console(soft_wrap=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (localhost only)
        body: bytes = response.read()
        return body


@click.command()
@click.option(
    "--data-dir", default="demo-data", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--entries", default=20_000, show_default=True, type=click.IntRange(1, 10_000_000))
def demo(data_dir: str, entries: int) -> None:
    """Append entries, serve the log over HTTP, and verify the checkpoint and proofs offline."""
    directory = Path(data_dir)
    shutil.rmtree(directory, ignore_errors=True)
    config = LogConfig.from_env(
        directory, database_url=f"sqlite:///{directory.resolve() / 'log.db'}"
    )
    signer = config.write_new_key(ORIGIN)
    migrations.upgrade(config.database_url)
    store = LogStore(open_engine(config.database_url))
    sequencer = Sequencer(store, signer, lambda: time.time_ns() // 1_000_000)
    sequencer.initialize()
    console.print(f"1. created log [bold]{ORIGIN}[/] in {directory}/ (key file mode 0600)")

    leaves = [
        json.dumps({"kind": "demo/v1", "n": i}, separators=(",", ":")).encode()
        for i in range(entries)
    ]
    midway = 0
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("appending", total=entries)
        for start in range(0, entries, 1000):
            result = sequencer.append(leaves[start : start + 1000])
            midway = midway or (result.checkpoint.size if start >= entries // 2 else 0)
            progress.update(task, completed=result.checkpoint.size)
    elapsed = time.perf_counter() - started
    console.print(
        f"2. appended {entries:,} entries in batches of 1,000 ({entries / elapsed:,.0f}/s)"
    )

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        note = _get(f"{base}/checkpoint")
        checkpoint = open_checkpoint(note, signer.verifier)
        console.print(f"3. GET /checkpoint: signature verifies with {signer.verifier.vkey}")
        console.print(
            f"   size {checkpoint.size:,}, root {base64.b64encode(checkpoint.root_hash).decode()}"
        )

        index = entries // 3
        proof = json.loads(_get(f"{base}/v1/log/proof/inclusion?index={index}"))
        path = [base64.b64decode(h) for h in proof["inclusion_path"]]
        verify_inclusion(
            hash_leaf(leaves[index]), index, checkpoint.size, path, checkpoint.root_hash
        )
        console.print(f"4. entry {index} is in the tree: {len(path)}-hash inclusion proof verified")

        if midway and midway < checkpoint.size:
            old = store.checkpoint_at(midway).checkpoint
            cons = json.loads(_get(f"{base}/v1/log/proof/consistency?first={midway}"))
            verify_consistency(
                midway,
                checkpoint.size,
                old.root_hash,
                checkpoint.root_hash,
                [base64.b64decode(h) for h in cons["consistency_path"]],
            )
            console.print(
                f"5. the tree at {midway:,} is a prefix of the tree at {checkpoint.size:,}: consistency proof verified"
            )

        offline = TlogProof(index, tuple(path), note)
        proof_file = directory / f"entry-{index}.tlog-proof"
        proof_file.write_bytes(offline.encode())
        offline.verify(leaves[index], signer.verifier)
        console.print(f"6. wrote the offline proof {proof_file} (C2SP tlog-proof) and verified it")
        tile = _get(f"{base}/tile/0/000")
        console.print(f"7. GET /tile/0/000: {len(tile)} bytes = 256 leaf hashes (C2SP tlog-tiles)")
    finally:
        server.should_exit = True
    console.print(
        f"\nServe it yourself: [bold]prov --data-dir {directory} serve[/] then open http://127.0.0.1:8000/docs"
    )


if __name__ == "__main__":
    demo()
