"""The `prov` command line (click): thin commands over ledger/ and registry/."""

# How long `prov serve` and `prov witness serve` let requests in flight finish after SIGTERM or
# SIGINT before cancelling them: well inside the 10 s that systemd and docker wait before SIGKILL.
SHUTDOWN_GRACE_S = 5
