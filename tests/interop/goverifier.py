"""Build and run ``goverify``, an independent verifier built on Go's x/mod.

``goverify`` (see ``goverify/main.go``) checks a running server with
``golang.org/x/mod/sumdb/note`` and ``golang.org/x/mod/sumdb/tlog``. It is
compiled offline in GOPATH mode against the Debian-packaged sources, so it
needs only the Debian packages in ``DEBIAN_PACKAGES``, no module proxy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

GOVERIFY_SRC = Path(__file__).resolve().parent / "goverify"
# golang-golang-x-mod-dev installs the x/mod sources under this GOPATH.
DEBIAN_GOPATH = Path("/usr/share/gocode")
X_MOD_DIR = DEBIAN_GOPATH / "src" / "golang.org" / "x" / "mod"
DEBIAN_PACKAGES = ("golang-go", "golang-golang-x-mod-dev")


def _missing_packages() -> list[str]:
    missing = []
    if shutil.which("go") is None:
        missing.append("golang-go")
    sumdb = X_MOD_DIR / "sumdb"
    if not ((sumdb / "note" / "note.go").is_file() and (sumdb / "tlog" / "tlog.go").is_file()):
        missing.append("golang-golang-x-mod-dev")
    return missing


def go_toolchain_available() -> bool:
    """True if ``go`` and the Debian x/mod sources are both installed."""
    return not _missing_packages()


def _offline_go_env(gocache: Path) -> dict[str, str]:
    """Environment for an offline GOPATH-mode build against Debian's sources.

    Any GO* setting from the caller is dropped so that a stray GOFLAGS,
    GOPROXY or go.env file cannot switch the build to module mode or to the
    network.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GO111MODULE="off",  # GOPATH mode: imports resolve under GOPATH/src
        GOPATH=str(DEBIAN_GOPATH),
        GOCACHE=str(gocache),
        GOENV="off",
        GOFLAGS="",
        GOPROXY="off",
        GOTOOLCHAIN="local",  # never fetch another toolchain (Go >= 1.21)
        CGO_ENABLED="0",  # static binary, no C compiler needed
    )
    return env


def build_goverify(out_dir: Path) -> Path:
    """Compile ``goverify`` into ``out_dir`` offline and return its path.

    Raises RuntimeError naming the Debian packages to install if the Go
    toolchain or the x/mod sources are missing, or with the compiler's
    output if the build fails.
    """
    missing = _missing_packages()
    if missing:
        raise RuntimeError(
            "cannot build goverify: missing Debian package(s) "
            f"{', '.join(missing)}; install with: apt-get install -y {' '.join(DEBIAN_PACKAGES)}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / "goverify"
    result = subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=GOVERIFY_SRC,
        env=_offline_go_env(out_dir / "gocache"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or not binary.is_file():
        raise RuntimeError(
            f"go build of goverify failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    return binary


def run_goverify(
    binary: Path, url: str, vkey: str, samples: int = 20, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``goverify`` against the server at ``url``; never raises on failure.

    Exit code 0 and a last stdout line ``goverify: OK size=<S> root=<b64>``
    mean every check passed; otherwise stderr names the failed check.
    """
    return subprocess.run(
        [str(binary), "-url", url, "-vkey", vkey, "-samples", str(samples)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
