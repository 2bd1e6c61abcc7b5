"""The CLI tests' shared fixtures (tests/support/cli_world.py): the command line local or
through a server, and a vendor PKI on disk."""

from tests.support.cli_world import (
    cli,
    device_side,
    enrolled,
    files,
    local,
    no_prov_environment,
    server,
)

__all__ = ["cli", "device_side", "enrolled", "files", "local", "no_prov_environment", "server"]
