"""Offline proof bundles: everything a verifier needs to check one capture without us.

`bundle`: building a bundle from the log and verifying one against the log key (and witness
keys); `witness_time`: the time evidence of k witnesses' cosignatures.
"""
