"""Helpers shared by the tests and the benchmarks: clocks, databases, PKI and registry fixtures,
servers, the crash harness, the forking log, invariants, reference implementations.

No module here imports a test module or tests/conftest.py, so any test (and bench/) can import
what it needs from here; tests/conftest.py registers the fixture modules as pytest plugins.
"""
