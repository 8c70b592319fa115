"""The offline export bundle: a good one verifies with only the log's public key; any edited
byte, dropped, reordered or extra line, wrong key or cut-off file is found and located."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from policy.audit import (
    GENESIS,
    AuditEvent,
    BundleFailureReason,
    ChainedEvent,
    Checkpoint,
    ConsistencyRecord,
    MemoryNodes,
    NoteSigner,
    Outcome,
    consistency_proof,
    export_lines,
    inclusion_proof,
    leaf_hash,
    link_hash,
    tree_root,
    verify_bundle,
)
from policy.errors import AuditBundleInvalid

ORIGIN = "likeness.example/audit"
SIGNER = NoteSigner.generate(ORIGIN)
VERIFIER = SIGNER.verifier
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _log(count: int) -> list[ChainedEvent]:
    chained, head = [], GENESIS
    for n in range(count):
        event = AuditEvent.of(
            actor=f"partner:{n % 3}", action="job:generation:submit", resource=f"job:{n}",
            occurred_at=T0 + timedelta(seconds=n), request_id=f"req-{n}",
            outcome=Outcome.DENIED if n % 4 == 3 else Outcome.SUCCESS,
            payload={"reason": "consent_missing" if n % 4 == 3 else None, "n": n, "ok": "✓"},
            client_address=f"203.0.113.{n}" if n % 2 else None)
        chained.append(ChainedEvent.after(head, event))
        head = chained[-1].head
    return chained


LOG = _log(12)
NODES = MemoryNodes.from_leaf_hashes([leaf_hash(c.event.canonical_bytes()) for c in LOG])


def _note(size: int, minute: int = 0) -> str:
    return SIGNER.sign(Checkpoint(ORIGIN, size, tree_root(NODES, size),
                                  T0 + timedelta(minutes=minute)))


def _bundle(events: list[ChainedEvent], *, size: int = 12, contiguous: bool = True,
            consistency: tuple[ConsistencyRecord, ...] = ()) -> list[str]:
    proofs = [inclusion_proof(NODES, c.seq - 1, size) for c in events]
    return list(export_lines(_note(size, minute=size), events, proofs, contiguous=contiguous,
                             consistency=consistency))


def _failure(lines: list[str], verifier: object = VERIFIER) -> tuple[int, BundleFailureReason]:
    report = verify_bundle(lines, verifier)  # type: ignore[arg-type]
    assert report.failure is not None, "a damaged bundle verified"
    return report.failure.line, report.failure.reason


def test_a_good_bundle_verifies_from_a_file_or_a_list_of_lines() -> None:
    lines = _bundle(LOG[2:9])
    assert all(line.endswith("\n") and "\n" not in line[:-1] for line in lines)
    assert json.loads(lines[0]) == {"type": "checkpoint", "note": _note(12, 12),
                                    "contiguous": True}
    first = json.loads(lines[1])
    assert first["seq"] == 3 and first["leaf_index"] == 2 and first["hash"] == LOG[2].hash
    assert AuditEvent.from_document(first["event"]) == LOG[2].event
    assert json.loads(lines[-1]) == {"type": "end", "events": 7}
    text = "".join(lines)
    for source in (io.StringIO(text), text.splitlines(), text.split("\n")):
        report = verify_bundle(source, VERIFIER, origin=ORIGIN)
        assert report.ok and report.events_verified == 7
        assert report.checkpoint is not None and report.checkpoint.size == 12
    report.raise_if_invalid()
    empty = _bundle([])
    assert verify_bundle(empty, VERIFIER).ok


def test_a_filtered_bundle_and_an_older_checkpoint_verify() -> None:
    partner_one = [c for c in LOG if c.event.actor == "partner:1"]
    older = ConsistencyRecord(_note(5, minute=5), consistency_proof(NODES, 5, 12))
    lines = _bundle(partner_one, contiguous=False, consistency=(older,))
    report = verify_bundle(lines, VERIFIER)
    assert report.ok and report.events_verified == len(partner_one) == 4
    assert [c.size for c in report.older_checkpoints] == [5]


def test_every_single_byte_edit_is_located_on_its_line() -> None:
    lines = _bundle(LOG[:3], size=4)
    for number, line in enumerate(lines, 1):
        for position in range(len(line) - 1):
            edited = line[:position] + chr(ord(line[position]) ^ 1) + line[position + 1:]
            damaged = [*lines[:number - 1], edited, *lines[number:]]
            located, reason = _failure(damaged)
            assert located == number, (number, position, edited, reason)


def test_dropped_lines_are_located() -> None:
    lines = _bundle(LOG[:6])
    assert _failure(lines[:3] + lines[4:]) == (4, BundleFailureReason.SEQUENCE_GAP)
    assert _failure(lines[1:])[0] == 1  # no checkpoint
    assert _failure(lines[:-1]) == (len(lines), BundleFailureReason.TRUNCATED)
    assert _failure(lines[:-2] + lines[-1:]) == (len(lines) - 1,
                                                 BundleFailureReason.COUNT_MISMATCH)
    assert _failure([]) == (1, BundleFailureReason.TRUNCATED)
    filtered = _bundle(LOG[1::3], contiguous=False)
    assert _failure(filtered[:2] + filtered[3:]) == (len(filtered) - 1,
                                                     BundleFailureReason.COUNT_MISMATCH)


def test_reordered_and_repeated_lines_are_located() -> None:
    lines = _bundle(LOG[:6])
    swapped = [*lines[:2], lines[3], lines[2], *lines[4:]]
    assert _failure(swapped) == (3, BundleFailureReason.SEQUENCE_GAP)
    filtered = _bundle(LOG[::2], contiguous=False)
    swapped = [*filtered[:2], filtered[3], filtered[2], *filtered[4:]]
    assert _failure(swapped) == (4, BundleFailureReason.OUT_OF_ORDER)
    repeated = [*filtered[:3], filtered[2], *filtered[3:]]
    assert _failure(repeated) == (4, BundleFailureReason.OUT_OF_ORDER)
    moved_checkpoint = [lines[1], lines[0], *lines[2:]]
    assert _failure(moved_checkpoint) == (1, BundleFailureReason.MALFORMED_LINE)
    assert _failure([*lines, lines[0]]) == (len(lines) + 1, BundleFailureReason.TRAILING_DATA)
    assert verify_bundle([*lines, "\n", ""], VERIFIER).ok


def test_a_wrong_key_or_another_logs_checkpoint_is_refused_at_line_one() -> None:
    lines = _bundle(LOG[:4])
    impostor = NoteSigner.generate(ORIGIN).verifier
    assert _failure(lines, impostor) == (1, BundleFailureReason.CHECKPOINT_INVALID)
    report = verify_bundle(lines, VERIFIER, origin="other.example/log")
    assert report.failure is not None and report.failure.line == 1
    with pytest.raises(AuditBundleInvalid) as info:
        report.raise_if_invalid()
    assert info.value.context["line"] == 1
    assert info.value.context["reason"] == "checkpoint_invalid"


def test_events_outside_the_checkpoint_and_relinked_events_are_refused() -> None:
    beyond = export_lines(_note(6), LOG[:8],
                          lambda c: inclusion_proof(NODES, c.seq - 1, max(6, c.seq)))
    assert _failure(list(beyond)) == (8, BundleFailureReason.INCLUSION_INVALID)
    # A forged event with correct chain hashes still is not in the signed tree.
    forged = ChainedEvent.after(LOG[2].head, AuditEvent.of(
        actor="partner:0", action="job:generation:submit", resource="job:forged",
        occurred_at=T0))
    lines = _bundle(LOG[:3])
    forged_line = json.loads(_bundle([LOG[3]])[1])
    forged_line.update(event=forged.event.document(), hash=forged.hash)
    lines.insert(4, json.dumps(forged_line) + "\n")
    assert _failure(lines) == (5, BundleFailureReason.INCLUSION_INVALID)
    stale = ConsistencyRecord(_note(5, minute=99), consistency_proof(NODES, 5, 12))
    assert _failure(_bundle(LOG[:2], consistency=(stale,))) == (
        2, BundleFailureReason.CONSISTENCY_INVALID)
    wrong = ConsistencyRecord(_note(5, minute=5), consistency_proof(NODES, 4, 12))
    assert _failure(_bundle(LOG[:2], consistency=(wrong,))) == (
        2, BundleFailureReason.CONSISTENCY_INVALID)


def test_a_relinked_but_self_consistent_event_line_is_located() -> None:
    # The event is genuine (its inclusion proof holds) and its own hash is recomputed over a
    # forged predecessor: only the link to the previous line (or to genesis) shows it.
    lines = _bundle(LOG[:4])
    for number in (2, 4):
        relinked = json.loads(lines[number - 1])
        event = AuditEvent.from_document(relinked["event"])
        relinked["prev_hash"] = "ab" * 32
        relinked["hash"] = link_hash(relinked["prev_hash"], event)
        damaged = [*lines[:number - 1], json.dumps(relinked) + "\n", *lines[number:]]
        assert _failure(damaged) == (number, BundleFailureReason.PREV_HASH_MISMATCH)


def test_export_refuses_what_it_cannot_write_faithfully() -> None:
    note = _note(12)
    proofs = [inclusion_proof(NODES, c.seq - 1, 12) for c in LOG[:3]]
    with pytest.raises(AuditBundleInvalid):
        list(export_lines(note, LOG[:3], proofs[:2]))
    with pytest.raises(AuditBundleInvalid):
        list(export_lines(note, LOG[:2], proofs))
    with pytest.raises(AuditBundleInvalid):
        list(export_lines(note, [LOG[0], LOG[2]], [proofs[0], proofs[2]], contiguous=True))
    with pytest.raises(AuditBundleInvalid):
        list(export_lines(note, [LOG[1], LOG[0]], [proofs[1], proofs[0]]))
    with pytest.raises(AuditBundleInvalid):
        list(export_lines(note, LOG[:1], [[b"short"]]))
    streamed = export_lines(note, iter(LOG), lambda c: inclusion_proof(NODES, c.seq - 1, 12),
                            contiguous=True)
    assert verify_bundle(streamed, VERIFIER).events_verified == 12
