"""Fact-checkers' questions: which registered captures an image matches, and the verdict.

`query`: a lookup's probes against the index, the matches with their proofs and cautions, and
the verdict; `priority`: which came first, by the log's order, never by a device's clock;
`softbinding`: the same questions asked through the C2PA Soft Binding Resolution API.
"""
