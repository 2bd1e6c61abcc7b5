"""Running a page's command blocks exactly as written: the blocks a marker comment names
(`<!-- vendors-guide: run -->` in docs/vendors.md, `<!-- journey: fact-checker -->` in the
README), each run in one directory with bash -e and pipefail, so a command that fails as
written fails the test that runs it."""

import hashlib
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tests.support.registry_fixtures import picture

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # of its opening fence, for the failure message
    marker: str = ""  # the comment's text, e.g. "journey: auditor, exits 1"


def marked_blocks(markdown: str, marker: re.Pattern[str], page: str) -> list[Block]:
    """The fenced sh/python blocks right after each line matching `marker`, in order. A marker
    before anything else is an error: a block the test would silently skip."""
    lines = markdown.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        found = marker.fullmatch(line.strip())
        if not found:
            continue
        fence = re.fullmatch(r"```(sh|python)", lines[number + 1].strip())
        assert fence, f"{page} line {number + 1}: the marker is not followed by a sh/python fence"
        end = lines.index("```", number + 2)
        text = "\n".join(lines[number + 2 : end]) + "\n"
        blocks.append(Block(fence[1], text, number + 2, found[0][4:-3].strip()))
    return blocks


def run_block(block: Block, workdir: Path, env: dict[str, str], page: str, expect: int = 0) -> str:
    """Run one block in `workdir`; its stdout. Raises AssertionError, with the output, unless
    it exits `expect`."""
    if block.language == "sh":
        command = ["bash", "-euo", "pipefail", "-c", block.text]
    else:
        command = [sys.executable, "-c", block.text]
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == expect, (
        f"{page} block at line {block.line} exited {done.returncode}, not {expect}:\n"
        f"{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def reader_env(home: Path | None = None) -> dict[str, str]:
    """The environment of a reader with `prov` on PATH: this checkout's code, none of the
    caller's PROV_ settings; with `home`, their config and state live there, not in ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONPATH"] = str(ROOT)
    env["PROV_VERIFY_WORKERS"] = "1"  # a handful of records: no worker processes to start
    if home is not None:
        env["XDG_CONFIG_HOME"] = str(home / "config")
        env["XDG_STATE_HOME"] = str(home / "state")
    return env


def jpeg(seed: int) -> bytes:
    """A camera-like JPEG of its own picture per seed (what a reader brings to the page)."""
    out = io.BytesIO()
    Image.open(io.BytesIO(picture(seed, (640, 480)))).convert("RGB").save(out, "JPEG", quality=92)
    return out.getvalue()


def device_id(workdir: Path, cert: str) -> str:
    """The device id of the PEM certificate `cert` (the SHA-256 of its DER), by openssl."""
    der = subprocess.run(
        ["openssl", "x509", "-in", cert, "-outform", "DER"],
        cwd=workdir, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return hashlib.sha256(der).hexdigest()
