"""What k of n witnesses' cosignatures say about when a log's entries existed.

A cosignature on a checkpoint of N entries says "this witness saw these N entries by time T".
One witness's clock can be wrong, and one witness can lie, so with k witnesses required the
time evidence is the k-th earliest of their cosignatures: up to k - 1 wrong or lying witnesses
can neither set it earlier nor, alone, contradict the log. Each witness counts once (its
earliest cosignature of the checkpoint: any of its own cosignatures is its word).

`witnessed_time` (for one bundle) and `cosigned_bound` (for `prov audit replay`) share the rule
by which k witnesses contradict the log: the log says it logged an entry more than
`COSIGNED_SKEW_MS` after k witnesses cosigned a tree that holds it. An honest log cannot do
that, whatever its clock, since a witness can only cosign entries the log already logged.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.cosignature import Cosignature, CosignatureVerifier, verify_cosignatures
from ledger.errors import NotFoundError, VerificationError
from ledger.merkle import verify_consistency
from ledger.note import Verifier
from ledger.remote import RemoteLog
from registry.wording import iso_utc

__all__ = [
    "COSIGNED_SKEW_MS",
    "DEVICE_SLACK_MS",
    "FAR_MS",
    "CosignedBound",
    "WitnessedTime",
    "cosigned_bound",
    "earliest_per_witness",
    "replay_bound",
    "witnessed_time",
]

# How far a witness's clock may run behind the log's before a cosignature "earlier" than a
# logged_at is a contradiction: a minute, plus the second a whole-second timestamp drops.
COSIGNED_SKEW_MS = 61_000
DEVICE_SLACK_MS = 300_000  # a device clock may run this far ahead (PROV_MAX_FUTURE_SKEW_MS)
FAR_MS = 3_600_000  # a cosignature this far from the others' median is pointed out


def _ms(cosignature: Cosignature) -> int:
    return cosignature.timestamp * 1000


def _who(cosignatures: Sequence[Cosignature]) -> str:
    return ", ".join(f"{c.name} at {iso_utc(_ms(c))}" for c in cosignatures)


def earliest_per_witness(cosignatures: Sequence[Cosignature]) -> list[Cosignature]:
    """One cosignature per witness key (its earliest), earliest first."""
    earliest: dict[tuple[str, bytes], Cosignature] = {}
    for c in cosignatures:
        known = earliest.get((c.name, c.key_id))
        if known is None or c.timestamp < known.timestamp:
            earliest[(c.name, c.key_id)] = c
    return sorted(earliest.values(), key=lambda c: (c.timestamp, c.name))


@dataclass(frozen=True)
class CosignedBound:
    """k witnesses cosigned the log at `size` entries by `at_ms` (the k-th earliest)."""

    size: int
    at_ms: int
    witnesses: tuple[Cosignature, ...]  # the k earliest

    def contradicts(self, logged_at_ms: int) -> bool:
        return logged_at_ms - self.at_ms > COSIGNED_SKEW_MS

    def explain(self, what: str, logged_at_ms: int) -> str:
        return (
            f"the log says {what} was logged at {iso_utc(logged_at_ms)}, but {len(self.witnesses)} "
            f"witnesses cosigned a checkpoint of {self.size} entries that includes it earlier "
            f"({_who(self.witnesses)}): an honest log cannot log an entry after witnesses saw "
            "it, so the log's time is false"
        )


def cosigned_bound(
    cosignatures: Sequence[Cosignature], required: int, size: int
) -> CosignedBound | None:
    """The time by which `required` (at least one) witnesses saw the log at `size` entries;
    None if fewer witnesses cosigned."""
    k = max(1, required)
    earliest = earliest_per_witness(cosignatures)
    if len(earliest) < k:
        return None
    return CosignedBound(size, _ms(earliest[k - 1]), tuple(earliest[:k]))


@dataclass(frozen=True)
class WitnessedTime:
    at_ms: int  # "existed no later than": the k-th earliest consistent cosignature
    vouchers: tuple[Cosignature, ...]  # the k witnesses at or before it
    outliers: tuple[str, ...]  # one sentence per cosignature set aside or pointed out

    def describe(self) -> str:
        return (
            f"existed no later than {iso_utc(self.at_ms)}, by {len(self.vouchers)} of the "
            f"witnesses ({_who(self.vouchers)})"
            + (f"; outliers: {'; '.join(self.outliers)}" if self.outliers else "")
        )


def witnessed_time(
    cosignatures: Sequence[Cosignature],
    required: int,
    size: int,
    captured_at_ms: int,
    logged: Sequence[tuple[str, int]],
) -> WitnessedTime | None:
    """The time k = max(1, `required`) witnesses vouch for, for a capture claiming
    `captured_at_ms` whose entries (`logged`: (what, logged_at)) are all in the cosigned tree
    of `size` entries. None if no witness vouches and none is required.

    Fails (VerificationError) only on what k witnesses say together: that the capture existed
    before the device says it was made, or before the log says it logged it
    (`logged_after_cosigned`) - or if fewer than k cosignatures are consistent with the
    capture's times. A single cosignature before those times is an outlier, reported."""
    k = max(1, required)
    earliest = earliest_per_witness(cosignatures)
    if len(earliest) >= k:
        kth = earliest[k - 1]
        if _ms(kth) < captured_at_ms - DEVICE_SLACK_MS:
            raise VerificationError(
                f"{k} witnesses saw the capture logged before the device says it was captured "
                f"({iso_utc(captured_at_ms)}): {_who(earliest[:k])}; the claimed capture time is "
                "false",
                code="captured_after_cosigned",
            )
        what, logged_at = max(logged, key=lambda item: item[1])
        bound = CosignedBound(size, _ms(kth), tuple(earliest[:k]))
        if bound.contradicts(logged_at):
            raise VerificationError(bound.explain(what, logged_at), code="logged_after_cosigned")
    good, outliers = _sort_out(earliest, captured_at_ms, max(t for _, t in logged))
    if len(good) < k:
        if required == 0:
            return None
        raise VerificationError(
            f"only {len(good)} of the {k} witnesses required gave a time consistent with the "
            f"capture's: {'; '.join(outliers)}",
            code="too_few_witnesses",
        )
    return WitnessedTime(_ms(good[k - 1]), tuple(good[:k]), tuple(outliers))


def _sort_out(
    earliest: Sequence[Cosignature], captured_at_ms: int, logged_at_ms: int
) -> tuple[list[Cosignature], list[str]]:
    """(the consistent cosignatures, sentences on the outliers). A cosignature before the
    device's claimed time or the log's time is set aside (one witness's clock, or its lie); one
    far from the others' median is only pointed out, since a later time is still true."""
    good: list[Cosignature] = []
    outliers: list[str] = []
    for c in earliest:
        if _ms(c) < captured_at_ms - DEVICE_SLACK_MS:
            outliers.append(
                f"{c.name} at {iso_utc(_ms(c))} is before the claimed capture time "
                f"{iso_utc(captured_at_ms)} (set aside)"
            )
        elif logged_at_ms - _ms(c) > COSIGNED_SKEW_MS:
            outliers.append(
                f"{c.name} at {iso_utc(_ms(c))} is before the log's time {iso_utc(logged_at_ms)} "
                "(set aside)"
            )
        else:
            good.append(c)
    for c in good:
        others = [_ms(o) for o in earliest if o is not c]
        if others and abs(_ms(c) - median(others)) > FAR_MS:
            outliers.append(f"{c.name} at {iso_utc(_ms(c))} is far from the other witnesses' times")
    return good, outliers


def replay_bound(
    remote: RemoteLog,
    log_key: Verifier,
    note: bytes,
    target: Checkpoint,
    witnesses: Sequence[CosignatureVerifier],
    required: int,
) -> CosignedBound:
    """For `prov audit replay`: when `required` of `witnesses` saw the log, from the cosigned
    checkpoint it serves (`note`, of `target`) or, if that is not cosigned enough yet, the
    newest one a witness cosigned, which must be signed by the log and consistent with
    `target`. VerificationError if no checkpoint carries `required` cosignatures by them."""
    k = max(1, required)
    bound = cosigned_bound(verify_cosignatures(note, witnesses), k, target.size)
    if bound is not None:
        return bound
    try:
        older = remote.cosigned_checkpoint()
    except NotFoundError:
        older = None
    found = 0
    if older is not None:
        checkpoint = open_checkpoint(older, log_key)
        if checkpoint.size > target.size:  # cosigned after we fetched /checkpoint: not ours
            raise VerificationError(
                f"the log's newest cosigned checkpoint ({checkpoint.size} entries) is newer "
                f"than its checkpoint ({target.size}): replay again"
            )
        if checkpoint.size == target.size and checkpoint.root_hash != target.root_hash:
            raise VerificationError(
                f"the log signed two different trees of {target.size} entries: a fork"
            )
        if 0 < checkpoint.size < target.size:  # the witnesses' tree is a prefix of ours
            proof = remote.consistency_proof(checkpoint.size, target.size)
            verify_consistency(
                checkpoint.size, target.size, checkpoint.root_hash, target.root_hash, proof
            )
        cosignatures = verify_cosignatures(older, witnesses)
        bound = cosigned_bound(cosignatures, k, checkpoint.size)
        if bound is not None:
            return bound
        found = len(earliest_per_witness(cosignatures))
    raise VerificationError(
        f"{found} of the {k} witnesses required cosigned the log's checkpoints (its latest, "
        f"of {target.size} entries, and its newest cosigned one): its times cannot be checked "
        "against theirs",
        code="too_few_witnesses",
    )
