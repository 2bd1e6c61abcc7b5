"""Test PKI and C2PA test files, shared by `prov demo`, the tests and the benchmarks: vendor
roots, intermediates and device certificates (`pki`), and C2PA-signed JPEGs (`c2pa`). Never used
by the product's own code paths; keys made here are for tests and demos only.
"""
