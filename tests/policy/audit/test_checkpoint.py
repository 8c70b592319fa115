"""Signed checkpoints: byte-for-byte agreement with the signed-note reference vectors, round
trips, and every kind of tampering or malformation refused with its reason."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from policy.audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier, key_hash
from policy.audit.merkle import EMPTY_ROOT, leaf_hash
from policy.errors import AuditCheckpointInvalid, AuditKeyInvalid

# golang.org/x/mod/sumdb/note's documented example key and note.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = (GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1"
           "FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
# The C2SP signed-note specification's example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1"
             "YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")

ORIGIN = "likeness.example/audit"
SIGNER = NoteSigner.generate(ORIGIN)
VERIFIER = NoteVerifier.from_vkey(SIGNER.verifier_key)
ROOT = leaf_hash(b"root")
CHECKPOINT = Checkpoint(ORIGIN, 1234, ROOT, datetime(2026, 11, 24, 12, 30, 5, tzinfo=UTC))
NOTE = SIGNER.sign(CHECKPOINT)
ROOT_B64 = base64.b64encode(ROOT).decode()


def test_signed_notes_match_the_reference_vectors_byte_for_byte() -> None:
    signer = NoteSigner.from_text(GO_SKEY)
    assert signer.verifier_key == GO_VKEY and signer.to_text() == GO_SKEY
    assert signer.sign_text(GO_TEXT) == GO_NOTE  # Ed25519 is deterministic
    assert NoteVerifier.from_vkey(GO_VKEY).open(GO_NOTE) == GO_TEXT
    assert NoteVerifier.from_vkey(SPEC_VKEY).open(SPEC_NOTE) == "This is an example message.\n"
    public_key = base64.b64decode(GO_VKEY.split("+", 2)[2])[1:]
    assert NoteVerifier.from_vkey(GO_VKEY).key_hash.hex() == "c74f20a3"
    assert key_hash("PeterNeumann", public_key).hex() == "c74f20a3"


def test_a_checkpoint_round_trips_through_its_note() -> None:
    assert NOTE == (f"{ORIGIN}\n1234\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\n\n"
                    f"\u2014 {ORIGIN} {NOTE.split(' ')[-1]}")
    assert VERIFIER.verify(NOTE) == CHECKPOINT
    assert VERIFIER.verify(NOTE, origin=ORIGIN) == CHECKPOINT
    local = datetime(2026, 11, 24, 17, 30, 5, 987654, tzinfo=timezone(timedelta(hours=5)))
    checkpoint = Checkpoint(ORIGIN, 0, EMPTY_ROOT, local)
    assert checkpoint.timestamp == datetime(2026, 11, 24, 12, 30, 5, tzinfo=UTC)
    assert VERIFIER.verify(SIGNER.sign(checkpoint)) == checkpoint


def test_a_cosignature_by_another_key_is_allowed_but_never_enough() -> None:
    witness = NoteSigner.generate("witness.example")
    cosigned = NOTE + witness.sign(CHECKPOINT).split("\n\n")[1]
    assert VERIFIER.verify(cosigned) == CHECKPOINT
    assert witness.verifier.verify(cosigned) == CHECKPOINT
    only_witness = witness.sign(CHECKPOINT)
    with pytest.raises(AuditCheckpointInvalid) as info:
        VERIFIER.verify(only_witness)
    assert info.value.context["reason"] == "unknown_key"


def _non_canonical(encoded: str) -> str:
    """The same bytes with the unused low bits of the last base64 digit set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return encoded[:-2] + alphabet[alphabet.index(encoded[-2]) | 1] + "="


def _resign(note: str, signature: bytes) -> str:
    body = note.split("\n\n")[0]
    return f"{body}\n\n\u2014 {ORIGIN} {base64.b64encode(signature).decode()}\n"


def _signature(note: str) -> bytes:
    return base64.b64decode(note.rstrip("\n").split(" ")[-1])


@pytest.mark.parametrize("tampered, reason", [
    (NOTE.replace("\n1234\n", "\n1235\n"), "bad_signature"),
    (NOTE.replace("12:30:05Z", "12:30:06Z"), "bad_signature"),
    (NOTE.replace(ROOT_B64, base64.b64encode(leaf_hash(b"other")).decode()), "bad_signature"),
    (_resign(NOTE, _signature(NOTE)[:-1] + bytes([_signature(NOTE)[-1] ^ 1])), "bad_signature"),
    (_resign(NOTE, _signature(NOTE)[:-1]), "bad_signature"),
    (_resign(NOTE, bytes([_signature(NOTE)[0] ^ 1]) + _signature(NOTE)[1:]), "unknown_key"),
    (NoteSigner.generate(ORIGIN).sign(CHECKPOINT), "unknown_key"),
    (NOTE.replace(f"\u2014 {ORIGIN} ", "\u2014 someone.else "), "unknown_key"),
    (NOTE + NOTE.split("\n\n")[1], "malformed_note"),  # our signature twice
    (NOTE.replace("\u2014", "-"), "malformed_note"),
    (NOTE.replace("\n\n", "\n"), "malformed_note"),
    (NOTE.rstrip("\n"), "malformed_note"),
    (NOTE.replace("\n", "\r\n"), "malformed_note"),
    (NOTE.replace("time", "time\t"), "malformed_note"),
    (NOTE + "\n", "malformed_note"),
    (NOTE.replace(f"{ORIGIN} ", f"{ORIGIN}  "), "malformed_note"),
    (NOTE[:-1].rsplit(" ", 1)[0] + " " + _non_canonical(NOTE[:-1].rsplit(" ", 1)[1]) + "\n",
     "malformed_note"),  # the signature's base64 is not canonical
])
def test_tampered_notes_are_refused(tampered: str, reason: str) -> None:
    with pytest.raises(AuditCheckpointInvalid) as info:
        VERIFIER.verify(tampered)
    assert info.value.context["reason"] == reason


@pytest.mark.parametrize("body", [
    f"{ORIGIN}\n1234\n{ROOT_B64}\n",  # no time line
    f"{ORIGIN}\n1234\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\nextra junk\n",
    f"{ORIGIN}\n1234\n{ROOT_B64}\nwhen 2026-11-24T12:30:05Z\n",
    f"{ORIGIN}\n1234\n{ROOT_B64}\ntime 2026-11-24T12:30:05+00:00\n",
    f"{ORIGIN}\n1234\n{ROOT_B64}\ntime 2026-11-24T12:30:05.5Z\n",
    f"{ORIGIN}\n1234\n{ROOT_B64}\ntime 2026-02-30T12:30:05Z\n",
    f"{ORIGIN}\n01234\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\n",
    f"{ORIGIN}\n-1\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\n",
    f"{ORIGIN}\n1e3\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\n",
    f"{ORIGIN}\n\u0661\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\n",  # an Arabic-Indic digit
    f"{ORIGIN}\n99999999999999999999\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\n",
    f"{ORIGIN}\n1234\n{_non_canonical(ROOT_B64)}\ntime 2026-11-24T12:30:05Z\n",
    f"{ORIGIN}\n1234\n{ROOT_B64.rstrip('=')}\ntime 2026-11-24T12:30:05Z\n",
    f"{ORIGIN}\n1234\n{base64.b64encode(ROOT[:31]).decode()}\ntime 2026-11-24T12:30:05Z\n",
    f"{ORIGIN}\n0\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\n",  # empty tree, wrong root
    f"\n1234\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\n",
    f"{ORIGIN} x\n1234\n{ROOT_B64}\ntime 2026-11-24T12:30:05Z\n",
])
def test_signed_but_malformed_bodies_are_refused(body: str) -> None:
    with pytest.raises(AuditCheckpointInvalid) as info:
        VERIFIER.verify(SIGNER.sign_text(body))
    assert info.value.context["reason"] == "malformed_body"


def test_a_note_from_another_log_is_refused_when_the_origin_is_pinned() -> None:
    other = Checkpoint("other.example/log", 1, ROOT, CHECKPOINT.timestamp)
    with pytest.raises(AuditCheckpointInvalid) as info:
        VERIFIER.verify(SIGNER.sign(other), origin=ORIGIN)
    assert info.value.context["reason"] == "origin_mismatch"


@pytest.mark.parametrize("fields, reason", [
    ({"size": -1}, "size"), ({"size": True}, "size"), ({"size": 2**63}, "size"),
    ({"root": ROOT[:31]}, "root"), ({"size": 0}, "root"),
    ({"timestamp": datetime(2026, 1, 1)}, "time"),
    ({"origin": "has space"}, "origin"), ({"origin": "a+b"}, "origin"), ({"origin": ""}, "origin"),
])
def test_malformed_checkpoints_are_refused(fields: dict[str, object], reason: str) -> None:
    values: dict[str, object] = {"origin": ORIGIN, "size": 3, "root": ROOT,
                                 "timestamp": CHECKPOINT.timestamp, **fields}
    with pytest.raises(AuditCheckpointInvalid) as info:
        Checkpoint(**values)  # type: ignore[arg-type]
    assert info.value.context["reason"] == reason
    with pytest.raises(AuditCheckpointInvalid):
        SIGNER.sign_text("no final newline")


def test_keys_round_trip_through_text_and_a_private_file(tmp_path: Path) -> None:
    again = NoteSigner.from_text(SIGNER.to_text())
    assert again.sign(CHECKPOINT) == NOTE and again.verifier_key == SIGNER.verifier_key
    path = tmp_path / "audit.key"
    SIGNER.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert NoteSigner.load(path).sign(CHECKPOINT) == NOTE
    with pytest.raises(AuditKeyInvalid):
        NoteSigner.generate(ORIGIN).save(path)  # never overwrites a key
    assert NoteSigner.load(path).sign(CHECKPOINT) == NOTE
    with pytest.raises(AuditKeyInvalid):
        NoteSigner.load(tmp_path / "missing.key")
    (tmp_path / "bad.key").write_bytes(b"\xff\xfe")
    with pytest.raises(AuditKeyInvalid):
        NoteSigner.load(tmp_path / "bad.key")
    with pytest.raises(AuditKeyInvalid):
        NoteSigner.generate("bad name")


@pytest.mark.parametrize("text, parse", [(GO_VKEY, NoteVerifier.from_vkey),
                                         (GO_SKEY, NoteSigner.from_text)])
def test_every_mangling_of_a_key_is_refused(text: str, parse: object) -> None:
    # Like the reference implementation's tests: every proper substring, every byte bumped.
    manglings = {text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1)}
    manglings |= {text[:i] + chr(ord(text[i]) + 1) + text[i + 1:] for i in range(len(text))}
    manglings.discard(text)
    for mangled in manglings:
        with pytest.raises(AuditKeyInvalid):
            parse(mangled)  # type: ignore[operator]
    wrong_length = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    unknown_algorithm = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    for bad in (wrong_length, unknown_algorithm, "", None):
        with pytest.raises(AuditKeyInvalid):
            NoteVerifier.from_vkey(bad)  # type: ignore[arg-type]
