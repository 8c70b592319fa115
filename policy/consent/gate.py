"""The consent gate: the decision a job must pass before anything is generated.

    subject facts (consents, reference encodings) + request (partner, purpose, portrait, now)
      -> the partner's consents, newest first; any that covers the request wins
      -> else the refusal of the newest one (pending, rejected, revoked, expired, purpose,
         exhausted: its ``max_jobs`` already used)
      -> else, if only other partners hold a consent: partner_not_covered; none: consent_missing
      -> a covering consent still needs the portrait to be the subject: the smallest identity
         distance to the subject's references. Against the partner's reference portraits
         (photo to photo) it must be <= ``threshold``, else face_mismatch. Against live-capture
         templates (a filmed face, ``SubjectFacts.references_from_capture``) the capture
         check's own bands apply (``capture_match.CaptureMatchBands``): <= 0.55 passes,
         >= 0.65 is face_mismatch, and between is face_match_review - the gate does not decide
         a portrait the capture check itself would have sent to an officer
      -> ``ConsentDecision`` (allowed, reason code, the consent used, the measured distance)

A decision is a value, not an exception, so callers can log and audit refusals;
``ConsentDecision.raise_if_refused`` turns a refusal into the matching ``ConsentError`` leaf.
Pure: the facts come through ``ConsentFactsSource`` (one method, implemented by the service
over its database) and the time is an argument.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

import numpy as np

from model.face.identity import DESCRIPTOR_DIM, identity_distance
from policy.consent.capture_match import CaptureMatchBands, MatchVerdict
from policy.errors import (
    ConsentError,
    ConsentExhausted,
    ConsentExpired,
    ConsentMissing,
    ConsentPending,
    ConsentRejected,
    ConsentRevoked,
    FaceMatchReview,
    FaceMismatch,
    PartnerNotCovered,
    PurposeNotCovered,
)

# Photo to photo (a job portrait against the partner's reference portraits): dlib 128-D
# distances measured on real photos: same person 0.34-0.42, different 0.76-0.91. dlib's own
# 0.6 (tuned on LFW for recall) is looser than a consent check should be.
DEFAULT_FACE_THRESHOLD = 0.5
# Photo to live-capture template: the capture check's bands (``capture_match``).
DEFAULT_CAPTURE_BANDS = CaptureMatchBands()


class ConsentState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


class Reason(enum.StrEnum):
    """Why the gate refused: each is also the ``code`` of the matching ``ConsentError``."""

    CONSENT_MISSING = "consent_missing"
    CONSENT_PENDING = "consent_pending"
    CONSENT_REJECTED = "consent_rejected"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_REVOKED = "consent_revoked"
    PURPOSE_NOT_COVERED = "purpose_not_covered"
    CONSENT_EXHAUSTED = "consent_exhausted"
    PARTNER_NOT_COVERED = "partner_not_covered"
    FACE_MISMATCH = "face_mismatch"
    FACE_MATCH_REVIEW = "face_match_review"  # in the capture template's officer band


_ERRORS: dict[Reason, type[ConsentError]] = {
    Reason.CONSENT_MISSING: ConsentMissing, Reason.CONSENT_PENDING: ConsentPending,
    Reason.CONSENT_REJECTED: ConsentRejected, Reason.CONSENT_EXPIRED: ConsentExpired,
    Reason.CONSENT_REVOKED: ConsentRevoked, Reason.PURPOSE_NOT_COVERED: PurposeNotCovered,
    Reason.PARTNER_NOT_COVERED: PartnerNotCovered, Reason.FACE_MISMATCH: FaceMismatch,
    Reason.CONSENT_EXHAUSTED: ConsentExhausted, Reason.FACE_MATCH_REVIEW: FaceMatchReview,
}


@dataclass(frozen=True)
class ConsentFacts:
    """One consent as the gate needs it. ``purposes`` is the approved scope once approved;
    ``jobs_used`` counts the jobs that hold a place under ``max_jobs`` (None: no limit)."""

    consent_id: uuid.UUID
    organisation_id: uuid.UUID  # the partner the consent is granted to
    state: ConsentState
    purposes: frozenset[str]
    expires_at: datetime | None  # aware; None: no expiry
    requested_at: datetime  # aware; orders a subject's consents
    max_jobs: int | None = None
    jobs_used: int = 0


@dataclass(frozen=True)
class SubjectFacts:
    """A subject's consents and reference identity. Each encoding is a (128,) float32 dlib
    descriptor: of one reference portrait, or - ``references_from_capture`` - of the face
    filmed in a live capture (the subject's sealed templates), judged by the capture bands."""

    subject_id: uuid.UUID
    consents: tuple[ConsentFacts, ...]
    reference_encodings: tuple[np.ndarray, ...]
    references_from_capture: bool = False


@dataclass(frozen=True)
class FaceMatch:
    """The smallest identity distance from a portrait to the references (None: no reference).

    ``threshold``: the largest distance that matches. ``review_below``: against capture
    templates, distances above ``threshold`` and below this go to an officer
    (``face_match_review``); None for photo-to-photo matching, which has no such band."""

    distance: float | None
    threshold: float
    review_below: float | None = None

    @property
    def matched(self) -> bool:
        return self.distance is not None and self.distance <= self.threshold

    @property
    def unsure(self) -> bool:
        return (not self.matched and self.distance is not None
                and self.review_below is not None and self.distance < self.review_below)


@dataclass(frozen=True)
class ConsentDecision:
    allowed: bool
    reason: Reason | None  # None when allowed
    message: str
    consent_id: uuid.UUID | None  # the covering consent if allowed, else the one that refused
    face: FaceMatch | None  # measured only once a consent covers the request

    def raise_if_refused(self) -> None:
        if self.allowed or self.reason is None:
            return
        context: dict[str, object] = {
            "consent_id": None if self.consent_id is None else str(self.consent_id)}
        if self.face is not None:
            context.update(distance=self.face.distance, threshold=self.face.threshold)
            if self.face.review_below is not None:
                context.update(review_below=self.face.review_below)
        raise _ERRORS[self.reason](self.message, **context)


SessionT_contra = TypeVar("SessionT_contra", contravariant=True)


class ConsentFactsSource(Protocol[SessionT_contra]):
    def subject_facts(self, session: SessionT_contra,
                      subject_id: uuid.UUID) -> SubjectFacts | None:
        """The subject's consents (every partner's) and reference encodings; None if unknown."""
        ...


def consent_gate(source: ConsentFactsSource[SessionT_contra], session: SessionT_contra, *,
                 organisation_id: uuid.UUID, subject_id: uuid.UUID, purpose: str,
                 portrait_encoding: np.ndarray, now: datetime,
                 threshold: float = DEFAULT_FACE_THRESHOLD,
                 capture_bands: CaptureMatchBands = DEFAULT_CAPTURE_BANDS) -> ConsentDecision:
    """May ``organisation_id`` animate ``subject_id`` for ``purpose`` from a portrait whose
    (128,) identity encoding is ``portrait_encoding``, at ``now`` (aware)? Reads the facts
    through ``source`` in the caller's session and applies ``decide``."""
    return decide(source.subject_facts(session, subject_id), organisation_id=organisation_id,
                  purpose=purpose, portrait_encoding=portrait_encoding, now=now,
                  threshold=threshold, capture_bands=capture_bands)


def decide(subject: SubjectFacts | None, *, organisation_id: uuid.UUID, purpose: str,
           portrait_encoding: np.ndarray, now: datetime,
           threshold: float = DEFAULT_FACE_THRESHOLD,
           capture_bands: CaptureMatchBands = DEFAULT_CAPTURE_BANDS) -> ConsentDecision:
    """The gate's rules over plain facts (see the module docstring for the order).
    ``threshold`` matches against reference portraits, ``capture_bands`` against capture
    templates."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the consent gate needs an aware 'now'")
    if subject is None:
        return _refuse(Reason.CONSENT_MISSING, "no such subject", None)
    own = sorted((c for c in subject.consents if c.organisation_id == organisation_id),
                 key=lambda c: c.requested_at, reverse=True)
    if not own:
        others = any(c.state == ConsentState.APPROVED for c in subject.consents)
        if others:
            return _refuse(Reason.PARTNER_NOT_COVERED, "the subject's consent covers another "
                           "partner, not this one", None)
        return _refuse(Reason.CONSENT_MISSING, "the subject has given this partner no consent",
                       None)
    judged = [_judge(c, purpose, now) for c in own]
    covering = next((d for d in judged if d.allowed), None)
    if covering is None:
        return judged[0]  # the newest consent's refusal
    if subject.references_from_capture:
        return _against_capture(portrait_encoding, subject, capture_bands, covering.consent_id)
    face = match_face(portrait_encoding, subject.reference_encodings, threshold)
    if not face.matched:
        measured = "no reference portrait" if face.distance is None else (
            f"identity distance {face.distance:.3f} > threshold {threshold:.3f}")
        return ConsentDecision(False, Reason.FACE_MISMATCH, "the portrait is not the subject: "
                               + measured, covering.consent_id, face)
    return ConsentDecision(True, None, "consent covers the request", covering.consent_id, face)


def _against_capture(encoding: np.ndarray, subject: SubjectFacts, bands: CaptureMatchBands,
                     consent_id: uuid.UUID) -> ConsentDecision:
    """The job portrait against the face filmed in the subject's live capture, judged as the
    capture check judged that face (``capture_match``): a distance the check would only have
    sent to an officer is neither allowed nor called another person."""
    found = match_face(encoding, subject.reference_encodings, bands.pass_max)
    face = FaceMatch(found.distance, bands.pass_max, bands.refuse_from)
    verdict = bands.verdict(face.distance)
    if verdict == MatchVerdict.SAME:
        return ConsentDecision(True, None, "consent covers the request", consent_id, face)
    if verdict == MatchVerdict.UNSURE:
        return ConsentDecision(
            False, Reason.FACE_MATCH_REVIEW,
            f"the portrait is close to the subject's live capture but not clearly the same "
            f"person (identity distance {face.distance:.3f}; <= {bands.pass_max:.2f} passes, "
            f">= {bands.refuse_from:.2f} is another person): a compliance officer must decide "
            f"it - submit a clear, frontal, recent portrait of the subject instead, or ask "
            f"compliance to review this one", consent_id, face)
    measured = "no live-capture template" if face.distance is None else (
        f"identity distance {face.distance:.3f} >= {bands.refuse_from:.2f} from the subject's "
        f"live capture")
    return ConsentDecision(False, Reason.FACE_MISMATCH, "the portrait is not the subject: "
                           + measured, consent_id, face)


def _judge(consent: ConsentFacts, purpose: str, now: datetime) -> ConsentDecision:
    """Whether this one consent covers the purpose at ``now`` (before any face check)."""
    cid = consent.consent_id
    if consent.state == ConsentState.PENDING:
        return _refuse(Reason.CONSENT_PENDING, "the consent awaits a compliance officer's "
                       "review", cid)
    if consent.state == ConsentState.REJECTED:
        return _refuse(Reason.CONSENT_REJECTED, "the consent was rejected", cid)
    if consent.state == ConsentState.REVOKED:
        return _refuse(Reason.CONSENT_REVOKED, "the consent was revoked", cid)
    if consent.expires_at is not None and consent.expires_at <= now:
        return _refuse(Reason.CONSENT_EXPIRED,
                       f"the consent expired at {consent.expires_at.isoformat()}", cid)
    if purpose not in consent.purposes:
        covered = ", ".join(sorted(consent.purposes)) or "none"
        return _refuse(Reason.PURPOSE_NOT_COVERED,
                       f"the consent does not cover purpose {purpose!r} (covers {covered})", cid)
    if consent.max_jobs is not None and consent.jobs_used >= consent.max_jobs:
        return _refuse(Reason.CONSENT_EXHAUSTED, f"the consent allows {consent.max_jobs} "
                       f"job(s) and {consent.jobs_used} are used", cid)
    return ConsentDecision(True, None, "consent covers the purpose", cid, None)


def _refuse(reason: Reason, message: str, consent_id: uuid.UUID | None) -> ConsentDecision:
    return ConsentDecision(False, reason, message, consent_id, None)


def match_face(encoding: np.ndarray, references: Sequence[np.ndarray],
               threshold: float = DEFAULT_FACE_THRESHOLD) -> FaceMatch:
    """The smallest distance from a (128,) encoding to the (128,) references."""
    encoding = np.asarray(encoding, dtype=np.float32)
    if encoding.shape != (DESCRIPTOR_DIM,):
        raise ValueError(f"a face encoding is ({DESCRIPTOR_DIM},), got {encoding.shape}")
    distances = [identity_distance(encoding, ref) for ref in references]
    return FaceMatch(min(distances) if distances else None, threshold)
