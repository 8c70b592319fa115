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

Stored form: ``version (1 byte) || nonce (12) || ciphertext+tag`` of the 128 float32 values
(541 bytes; the plaintext encodings stored before sealing were exactly 512).

Once a subject has a live template on an approved consent, job portraits are matched against
the templates only: the partner's own portraits no longer count as the reference, so a partner
cannot supply both sides of the comparison.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from model.face.identity import DESCRIPTOR_DIM
from service.db.models import Consent, ConsentStatus, FaceTemplate
from service.errors import KeysError
from service.secret_files import AeadEnvelope, EnvelopeUnreadable, load_aead_key
from service.settings import Settings

_DTYPE = np.dtype("<f4")
PORTRAIT_LABEL = b"portrait"
WHAT = "face template key"


class TemplateBox:
    """Seals and opens face templates with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        self._envelope = AeadEnvelope(key, WHAT, source="face_template_key")

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplateBox:
        value = settings.face_template_key
        return cls(load_aead_key(None if value is None else value.get_secret_value(),
                                 "LIKENESS_FACE_TEMPLATE_KEY",
                                 settings.face_template_key_file, WHAT))

    def seal(self, template_id: uuid.UUID, subject_id: uuid.UUID,
             encoding: np.ndarray) -> bytes:
        """A live-capture template, bound to its row and subject."""
        return self._seal(_aad(template_id, subject_id), encoding)

    def open(self, template_id: uuid.UUID, subject_id: uuid.UUID, sealed: bytes) -> np.ndarray:
        """The (128,) float32 encoding; ``KeysError`` if it does not decrypt."""
        return self._open(_aad(template_id, subject_id), sealed, "a face template",
                          template_id=str(template_id))

    def seal_portrait(self, asset_id: uuid.UUID, organisation_id: uuid.UUID,
                      encoding: np.ndarray) -> bytes:
        """A portrait asset's encoding, bound to the asset row and its organisation."""
        return self._seal(_portrait_aad(asset_id, organisation_id), encoding)

    def open_portrait(self, asset_id: uuid.UUID, organisation_id: uuid.UUID,
                      sealed: bytes) -> np.ndarray:
        """The (128,) float32 encoding; ``KeysError`` if it does not decrypt (another key, or
        a ciphertext that belongs to another asset or organisation)."""
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
            if failed.malformed:
                raise KeysError(f"{what} is stored in an unknown format", **where) from None
            raise KeysError(f"{what} does not decrypt: the face template key changed, or the "
                            "ciphertext was altered or copied from another row",
                            **where) from None
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
    return [box.open(t.id, subject_id, t.ciphertext) for t in templates if t.ciphertext]


def _aad(template_id: uuid.UUID, subject_id: uuid.UUID) -> bytes:
    return template_id.bytes + subject_id.bytes


def _portrait_aad(asset_id: uuid.UUID, organisation_id: uuid.UUID) -> bytes:
    # The label keeps the two kinds apart (and a different length than a template's).
    return PORTRAIT_LABEL + asset_id.bytes + organisation_id.bytes

