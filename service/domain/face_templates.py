"""Face encodings at rest: every 128-D identity encoding the service keeps, sealed with AES-256-GCM.

A face template used to identify someone is special-category data (GDPR Art. 9): it is stored
encrypted under a key held outside the database (``LIKENESS_FACE_TEMPLATE_KEY`` from the
deployment's vault, or ``data_dir/face-template-key``, created 0600 on first use), so a
database dump alone yields no biometric. One ``TemplateBox`` seals two kinds of row, each with
its own associated data, so a ciphertext copied onto another row does not open:

- the live capture's templates (``face_templates.ciphertext``): the template's id and its
  subject's id;
- partner portraits' encodings (``assets.face_encoding``: reference and job portraits): a
  ``portrait`` label, the asset's id and its organisation's id (``seal_portrait``).

Stored form (``service.secret_files``): ``0x02 || key id (4) || nonce (12) || ciphertext+tag``
of the 128 float32 values (545 bytes; version 1, without the key id, 541, is still read; the
plaintext encodings stored before sealing were exactly 512). Values sealed under a key named in
``LIKENESS_FACE_TEMPLATE_PREVIOUS_KEYS`` still open; ``likeness keys rotate-face-templates``
re-seals them under the current key (``service.key_rotation``).

A value that does not open is never skipped. Whose fault it is depends on its neighbours
(``unopened_error``): when the configured keys open none of the values at hand and one could be
the key's fault, the key is wrong or missing (``SealingKeyMismatch``, an operator's error);
otherwise those rows were altered or copied from another row (``SealedValueUnreadable``, or
``SubjectReferenceUnreadable`` for a reference portrait, which the partner has re-derived from
the stored photo: ``service.domain.references``), logged for operators.

Once a subject has a live template on an approved consent, job portraits are matched against
the templates only: the partner's own portraits no longer count as the reference, so a partner
cannot supply both sides of the comparison.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from model.face.identity import DESCRIPTOR_DIM
from service.db.models import Consent, ConsentStatus, FaceTemplate
from service.errors import (
    KeysError,
    SealedValueUnreadable,
    SealingKeyMismatch,
    SubjectReferenceUnreadable,
)
from service.secret_files import (
    AeadEnvelope,
    EnvelopeUnreadable,
    load_aead_key,
    parse_previous_keys,
    sealed_value_error,
)
from service.settings import Settings

_DTYPE = np.dtype("<f4")
PORTRAIT_LABEL = b"portrait"
WHAT = "face template key"
log = logging.getLogger(__name__)

# What a sealed value that does not open raises (see ``unopened_error``).
Unopenable = SealingKeyMismatch | SealedValueUnreadable


class TemplateBox:
    """Seals face templates with the current AES-256-GCM key; opens them under it or any
    previous key (``previous``: retired by a rotation, never used to seal)."""

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        self._envelope = AeadEnvelope(key, WHAT, source="face_template_key", previous=previous)

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplateBox:
        value, previous = settings.face_template_key, settings.face_template_previous_keys
        return cls(load_aead_key(None if value is None else value.get_secret_value(),
                                 "LIKENESS_FACE_TEMPLATE_KEY",
                                 settings.face_template_key_file, WHAT),
                   parse_previous_keys(None if previous is None else previous.get_secret_value(),
                                       "LIKENESS_FACE_TEMPLATE_PREVIOUS_KEYS", WHAT))

    @property
    def key_id(self) -> str:
        """The current key's id (hex): what a rotation re-seals under."""
        return self._envelope.key_id

    def is_current(self, sealed: bytes) -> bool:
        """Whether ``sealed`` is already sealed under the current key (a rotation skips it)."""
        return self._envelope.is_current(sealed)

    def seal(self, template_id: uuid.UUID, subject_id: uuid.UUID,
             encoding: np.ndarray) -> bytes:
        """A live-capture template, bound to its row and subject."""
        return self._seal(_aad(template_id, subject_id), encoding)

    def open(self, template_id: uuid.UUID, subject_id: uuid.UUID, sealed: bytes) -> np.ndarray:
        """The (128,) float32 encoding; ``SealedValueUnreadable`` if it does not decrypt
        (``SealingKeyMismatch``: sealed under a key that is not configured)."""
        return self._open(_aad(template_id, subject_id), sealed, "a face template",
                          template_id=str(template_id))

    def seal_portrait(self, asset_id: uuid.UUID, organisation_id: uuid.UUID,
                      encoding: np.ndarray) -> bytes:
        """A portrait asset's encoding, bound to the asset row and its organisation."""
        return self._seal(_portrait_aad(asset_id, organisation_id), encoding)

    def open_portrait(self, asset_id: uuid.UUID, organisation_id: uuid.UUID,
                      sealed: bytes) -> np.ndarray:
        """The (128,) float32 encoding; ``SealedValueUnreadable`` if it does not decrypt (a
        ciphertext altered or belonging to another asset or organisation), ``SealingKeyMismatch``
        if it names a key that is not configured."""
        return self._open(_portrait_aad(asset_id, organisation_id), sealed,
                          f"the face encoding of asset {asset_id}", asset_id=str(asset_id))

    def _seal(self, aad: bytes, encoding: np.ndarray) -> bytes:
        values = np.asarray(encoding, dtype=_DTYPE)
        if values.shape != (DESCRIPTOR_DIM,) or not np.all(np.isfinite(values)):
            raise ValueError(f"a face template is ({DESCRIPTOR_DIM},) finite floats")
        return self._envelope.seal(values.tobytes(), aad)

    def _open(self, aad: bytes, sealed: bytes, what: str, **where: str) -> np.ndarray:
        try:
            plain = self._envelope.open(sealed, aad)
        except EnvelopeUnreadable as failed:
            raise sealed_value_error(failed, what, WHAT, **where) from None
        return np.frombuffer(plain, dtype=_DTYPE).astype(np.float32)


def store_template(session: Session, box: TemplateBox, *, subject_id: uuid.UUID,
                   consent_id: uuid.UUID | None, request_id: uuid.UUID | None,
                   encoding: np.ndarray, now: datetime) -> FaceTemplate:
    template = FaceTemplate(subject_id=subject_id, consent_id=consent_id,
                            request_id=request_id, created_at=now)
    session.add(template)
    session.flush()  # the id is part of the associated data
    template.ciphertext = box.seal(template.id, subject_id, encoding)
    session.flush()
    return template


def live_templates(session: Session, subject_id: uuid.UUID) -> Sequence[FaceTemplate]:
    """The subject's unerased templates whose consent an officer or the checks approved."""
    return session.scalars(
        select(FaceTemplate).join(Consent, Consent.id == FaceTemplate.consent_id)
        .where(FaceTemplate.subject_id == subject_id, FaceTemplate.ciphertext.is_not(None),
               FaceTemplate.erased_at.is_(None), Consent.status == ConsentStatus.APPROVED)
        .order_by(FaceTemplate.created_at)).all()


def template_encodings(session: Session, box: TemplateBox | None,
                       subject_id: uuid.UUID) -> list[np.ndarray] | None:
    """The subject's live template encodings, or None when it has none (the partner's
    reference portraits then stand). A subject with templates but no key to open them is an
    operator error, never a silent fall back to the portraits."""
    templates = live_templates(session, subject_id)
    if not templates:
        return None
    if box is None:
        raise KeysError("subject has face templates but no face template key was given to "
                        "open them", subject_id=str(subject_id))
    opened: list[np.ndarray] = []
    failed: dict[uuid.UUID, Unopenable] = {}
    for template in (t for t in templates if t.ciphertext):
        try:
            opened.append(box.open(template.id, subject_id, template.ciphertext))
        except (SealingKeyMismatch, SealedValueUnreadable) as error:
            failed[template.id] = error
    if failed:
        raise unopened_error(failed, opened=len(opened), subject_id=subject_id)
    return opened


def unopened_error(failed: Mapping[uuid.UUID, Unopenable], *, opened: int,
                   subject_id: uuid.UUID | None, references: bool = False) -> KeysError:
    """The error for sealed values (by row id) that did not open while ``opened`` others of
    the same set did: the key's fault when the keys opened none and one failure could be the
    key's (names an unknown key, or names none), else these rows' own (altered, copied from
    another row, not our form). ``references``: the rows are reference portraits (assets),
    which the partner can replace. Row faults are logged here, for operators."""
    rows = sorted((str(row_id), error.message) for row_id, error in failed.items())
    ids = [row_id for row_id, _ in rows]
    whose = "" if subject_id is None else f" of subject {subject_id}"
    named = {} if subject_id is None else {"subject_id": str(subject_id)}
    if opened == 0 and any(isinstance(e, SealingKeyMismatch) or e.undetermined
                           for e in failed.values()):
        return SealingKeyMismatch(
            f"the configured face template keys open none of the sealed face encodings"
            f"{whose}: the key is wrong or missing ({next(iter(failed.values())).message})",
            **named)
    log.error("sealed face encodings%s do not open, and the keys are not to blame: %s",
              whose, "; ".join(f"{row_id}: {message}" for row_id, message in rows))
    if references:
        # A subject's reference is repaired in place from the photo the service holds
        # (``service.domain.references``); an unclaimed upload is simply uploaded again.
        repair = "upload the photo again and use the new asset" if subject_id is None else (
            "have the service re-derive it from its stored copy of the photo with "
            + ", ".join(f"POST /v1/subjects/{subject_id}/references/{row_id}/re-encode"
                        for row_id in ids))
        return SubjectReferenceUnreadable(
            f"reference portrait(s) {', '.join(ids)}{whose} can no longer be read (the stored "
            f"face encoding was altered or copied from another row): {repair}",
            asset_ids=ids, **named)
    return SealedValueUnreadable(
        f"face template(s) {', '.join(ids)}{whose} can no longer be read (altered or copied "
        "from another row): an operator has been alerted", template_ids=ids, **named)


def _aad(template_id: uuid.UUID, subject_id: uuid.UUID) -> bytes:
    return template_id.bytes + subject_id.bytes


def _portrait_aad(asset_id: uuid.UUID, organisation_id: uuid.UUID) -> bytes:
    # The label keeps the two kinds apart (and a different length than a template's).
    return PORTRAIT_LABEL + asset_id.bytes + organisation_id.bytes

