"""The `prov` command line (click): thin commands over ledger/ and registry/."""
