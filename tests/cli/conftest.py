"""The CLI tests' shared fixtures (tests/support/cli_world.py): the command line local or
through a server, and a vendor PKI on disk. (`enrolled` is each module's own: the root
conftest's `enrolled` is another fixture, which the other CLI tests use.)"""

from tests.support.cli_world import (
    cli,
    device_side,
    files,
    local,
    no_prov_environment,
    server,
)

__all__ = ["cli", "device_side", "files", "local", "no_prov_environment", "server"]
