"""Fact-checkers' questions: which registered captures an image matches, and the verdict.

`query`: a lookup's probes against the index, the matches with their proofs and cautions, and
the verdict; `parse`: the question (`Query`), from an image or from a client's JSON hashes;
`rows`: the statements a lookup reads the registry's tables with; `priority`: which came
first, by the log's order, never by a device's clock; `softbinding`: the same questions asked
through the C2PA Soft Binding Resolution API.
"""
