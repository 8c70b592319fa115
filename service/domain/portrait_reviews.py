"""Compliance officers' reviews of job portraits in the live-capture match's officer band.

A subject verified by live capture is matched against its sealed face templates with the
capture check's bands (``policy.consent.capture_match``); a job portrait between "the same
person" and "someone else" is not the gate's to decide alone. So:

- **Filed by the refusal.** When the gate refuses a submission ``face_match_review``, it files
  a review of that portrait for that subject (``file_review``): one per (subject, portrait
  asset, consent that covered the request), so submitting the same portrait again files
  nothing new. The refusal's details name it (``review_id``, ``review_status``) and never the
  distance: a score would let a partner tune a portrait of someone else towards the subject.
- **Decided by an officer** (``accept_review`` / ``reject_review``, with a written reason,
  each an audit event). Officers see the distance, the band, the subject and the portrait.
- **Applied by the gate** (``reviewed_decision``), at submission and again when a worker starts
  the job: in the band, an accepted review lets *that* portrait asset through - while the
  consent it was filed under is the one covering the request. The asset's sealed encoding is
  still opened and measured every time (sealed to the asset and its organisation, it cannot be
  swapped for another's; a re-sealing under a rotated key changes nothing): acceptance moves
  the band's verdict only, never a portrait the templates place outside it. A rejected review
  is refused ``face_match_rejected`` with the officer's reason. Another portrait - another
  asset, even of the same photo - is not covered.
- **Voided by revocation** (``void_reviews``: the consent's pending and accepted reviews; also
  on erasure, which revokes): a voided review counts for nothing and leaves the queue. A
  reviewed portrait's encoding is deleted with the subject's other encodings
  (``service.domain.biometrics``) and its bytes with the subject's media on erasure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from policy.audit import Outcome
from policy.consent import CaptureMatchBands, ConsentDecision
from service.auth.users import require_role
from service.db.audit import AuditContext, record
from service.db.models import (
    Asset,
    Consent,
    ConsentStatus,
    PortraitReview,
    PortraitReviewStatus,
    Role,
    Subject,
)
from service.db.types import utcnow
from service.errors import (
    ConsentRefused,
    NotFound,
    PortraitReviewDecided,
    PortraitReviewLapsed,
    RequestInvalid,
)
from service.webhooks.events import PORTRAIT_REVIEW_DECIDED, enqueue_organisation_event

FACE_MATCH_REVIEW = "face_match_review"
FACE_MATCH_REJECTED = "face_match_rejected"
MAX_REASON_CHARS = 2000
# Who files a review: the gate, on the partner's refused submission (its own event is beside).
GATE = AuditContext(actor="system:consent-gate")


@dataclass(frozen=True)
class BandMatch:
    """A portrait the gate placed in the officer band: the decision's consent and distance."""

    organisation_id: uuid.UUID
    subject_id: uuid.UUID
    consent_id: uuid.UUID
    portrait: Asset  # with its sealed ``face_encoding``
    distance: float
    bands: CaptureMatchBands


# -- the gate's side ------------------------------------------------------------------------


def reviewed_decision(session: Session, match: BandMatch, decision: ConsentDecision, *,
                      file: bool, now: datetime) -> ConsentDecision:
    """The gate's answer for a portrait in the band (``decision``: the policy's
    ``face_match_review``): allowed under an accepted review of this very portrait, else
    ``ConsentRefused`` naming its review (filed now when ``file`` and there is none yet).
    A decision comes back unchanged when there is no review and none may be filed here (a
    worker's re-check: its transaction is not committed on a refusal)."""
    review = find_review(session, match.subject_id, match.portrait.id, match.consent_id)
    if review is not None and review.status == PortraitReviewStatus.ACCEPTED:
        return ConsentDecision(True, None, f"a compliance officer accepted this portrait as "
                               f"the subject (portrait review {review.id})", match.consent_id,
                               decision.face)
    if review is None and file:
        review = file_review(session, match, now=now)
    if review is None:
        return decision
    raise refusal(review, match)


def find_review(session: Session, subject_id: uuid.UUID, portrait_asset_id: uuid.UUID,
                consent_id: uuid.UUID) -> PortraitReview | None:
    return session.scalar(select(PortraitReview).where(
        PortraitReview.subject_id == subject_id,
        PortraitReview.portrait_asset_id == portrait_asset_id,
        PortraitReview.consent_id == consent_id).execution_options(populate_existing=True))


def file_review(session: Session, match: BandMatch, *, now: datetime) -> PortraitReview:
    """A pending review of the portrait (the one already filed, if a concurrent submission of
    the same portrait won the race on the unique key)."""
    review = PortraitReview(
        organisation_id=match.organisation_id, subject_id=match.subject_id,
        consent_id=match.consent_id, portrait_asset_id=match.portrait.id,
        portrait_sha256=match.portrait.sha256,
        distance=round(float(match.distance), 6), pass_max=match.bands.pass_max,
        refuse_from=match.bands.refuse_from, status=PortraitReviewStatus.PENDING, filed_at=now)
    try:
        with session.begin_nested():
            session.add(review)
            session.flush()
    except IntegrityError:
        earlier = find_review(session, match.subject_id, match.portrait.id, match.consent_id)
        if earlier is None:
            raise
        return earlier
    record(session, GATE, "consent:portrait_review:file", f"portrait_review:{review.id}",
           now=now, payload={"organisation_id": str(match.organisation_id),
                             "subject_id": str(match.subject_id),
                             "consent_id": str(match.consent_id),
                             "portrait_asset_id": str(match.portrait.id),
                             "portrait_sha256": match.portrait.sha256,
                             "distance": review.distance, "pass_max": review.pass_max,
                             "refuse_from": review.refuse_from})
    return review


def refusal(review: PortraitReview, match: BandMatch) -> ConsentRefused:
    """What the partner is told: the review and what to do, never the distance."""
    details = {"subject_id": str(match.subject_id), "review_id": str(review.id),
               "review_status": review.status.value,
               "portrait_asset_id": str(match.portrait.id)}
    fresh = "submit a clear, frontal, recent portrait of the subject"
    if review.status == PortraitReviewStatus.REJECTED:
        return ConsentRefused(
            f"consent refused ({FACE_MATCH_REJECTED}): a compliance officer rejected this "
            f"portrait as the subject (portrait review {review.id}): {review.reason}; {fresh}",
            reason=FACE_MATCH_REJECTED, **details)
    if review.status == PortraitReviewStatus.PENDING:
        step = (f"it is not used until a compliance officer has reviewed it: portrait review "
                f"{review.id} is pending - submit the job again with this portrait asset once "
                f"it is accepted, or {fresh}")
    else:  # voided (its consent revoked): nothing stands for it
        step = f"portrait review {review.id} no longer applies (voided); {fresh}"
    return ConsentRefused(
        f"consent refused ({FACE_MATCH_REVIEW}): the portrait is close to the subject's live "
        f"capture but not clearly the same person; {step}", reason=FACE_MATCH_REVIEW, **details)


# -- the officers' side -----------------------------------------------------------------------


def review_queue(session: Session, *, status: PortraitReviewStatus, limit: int,
                 after: uuid.UUID | None = None, now: datetime | None = None
                 ) -> list[PortraitReview]:
    """Reviews in ``status``, oldest first (ids are UUIDv7). Pending ones are listed only
    while their consent still stands: the others can no longer be accepted."""
    query = select(PortraitReview).where(PortraitReview.status == status)
    if status == PortraitReviewStatus.PENDING:
        query = query.join(Consent, Consent.id == PortraitReview.consent_id).where(
            _stands(now or utcnow()))
    if after is not None:
        query = query.where(PortraitReview.id > after)
    return list(session.scalars(query.order_by(PortraitReview.id).limit(limit)))


def _stands(now: datetime):
    return (Consent.status == ConsentStatus.APPROVED) & or_(Consent.expires_at.is_(None),
                                                            Consent.expires_at > now)


def get_review(session: Session, review_id: uuid.UUID, *, lock: bool = False) -> PortraitReview:
    review = session.get(PortraitReview, review_id, with_for_update=lock,
                         populate_existing=True)
    if review is None:
        raise NotFound(f"no portrait review {review_id}", resource="portrait_review",
                       id=str(review_id))
    return review


def accept_review(session: Session, context: AuditContext, *, review_id: uuid.UUID,
                  officer_id: uuid.UUID, reason: str, now: datetime | None = None
                  ) -> PortraitReview:
    """Pending -> accepted: the gate lets this portrait through for this subject and consent.
    ``PortraitReviewLapsed`` when the consent no longer stands or the portrait's encoding
    was deleted (nothing left to match)."""
    now = now or utcnow()
    review, reason = _open_review(session, review_id, officer_id, reason)
    consent = session.get(Consent, review.consent_id, populate_existing=True)
    portrait = session.get(Asset, review.portrait_asset_id, populate_existing=True)
    if consent is None or not (consent.status == ConsentStatus.APPROVED and (
            consent.expires_at is None or consent.expires_at > now)):
        raise PortraitReviewLapsed(f"portrait review {review.id} was filed under consent "
                                   f"{review.consent_id}, which no longer stands",
                                   review_id=str(review.id), consent_id=str(review.consent_id))
    if portrait is None or portrait.face_encoding is None or portrait.purged_at is not None:
        raise PortraitReviewLapsed(f"the portrait of review {review.id} no longer has an "
                                   "identity encoding", review_id=str(review.id))
    return _decide(session, context, review, PortraitReviewStatus.ACCEPTED, officer_id,
                   reason, now)


def reject_review(session: Session, context: AuditContext, *, review_id: uuid.UUID,
                  officer_id: uuid.UUID, reason: str, now: datetime | None = None
                  ) -> PortraitReview:
    """Pending -> rejected: the gate refuses the portrait ``face_match_rejected``, naming the
    review and the officer's reason."""
    now = now or utcnow()
    review, reason = _open_review(session, review_id, officer_id, reason)
    return _decide(session, context, review, PortraitReviewStatus.REJECTED, officer_id,
                   reason, now)


def _open_review(session: Session, review_id: uuid.UUID, officer_id: uuid.UUID,
                 reason: str) -> tuple[PortraitReview, str]:
    require_role(session, officer_id, Role.COMPLIANCE_OFFICER)
    reason = reason.strip() if isinstance(reason, str) else ""
    if not 0 < len(reason) <= MAX_REASON_CHARS:
        raise RequestInvalid(f"give a reason of 1-{MAX_REASON_CHARS} characters",
                             field="reason")
    review = get_review(session, review_id, lock=True)
    if review.status != PortraitReviewStatus.PENDING:
        raise PortraitReviewDecided(f"portrait review {review_id} is {review.status.value}, "
                                    "not pending", review_id=str(review_id),
                                    status=review.status.value)
    return review, reason


def _decide(session: Session, context: AuditContext, review: PortraitReview,
            status: PortraitReviewStatus, officer_id: uuid.UUID, reason: str,
            now: datetime) -> PortraitReview:
    review.status, review.officer_id, review.decided_at, review.reason = \
        status, officer_id, now, reason
    session.flush()
    verb = "accept" if status == PortraitReviewStatus.ACCEPTED else "reject"
    record(session, context, f"compliance:portrait_review:{verb}",
           f"portrait_review:{review.id}", now=now,
           outcome=Outcome.SUCCESS if verb == "accept" else Outcome.DENIED,
           payload={"officer_id": str(officer_id), "reason": reason,
                    "subject_id": str(review.subject_id), "consent_id": str(review.consent_id),
                    "portrait_asset_id": str(review.portrait_asset_id),
                    "distance": review.distance})
    # The partner was told to wait for an officer: tell its endpoints the wait is over.
    subject = session.get(Subject, review.subject_id)
    assert subject is not None  # reviews are filed for existing subjects, never deleted
    enqueue_organisation_event(session, organisation_id=review.organisation_id,
                               is_test=subject.is_test, event_type=PORTRAIT_REVIEW_DECIDED,
                               now=now, review_id=str(review.id),
                               subject_id=str(review.subject_id), status=status.value)
    return review


def void_reviews(session: Session, context: AuditContext, *, consent_id: uuid.UUID,
                 reason: str, now: datetime) -> int:
    """Pending and accepted reviews under ``consent_id`` -> voided (on revocation); one audit
    event per review. Returns how many."""
    reviews = session.scalars(select(PortraitReview.id).where(
        PortraitReview.consent_id == consent_id,
        PortraitReview.status.in_((PortraitReviewStatus.PENDING,
                                   PortraitReviewStatus.ACCEPTED)))
        .order_by(PortraitReview.id)).all()
    if not reviews:
        return 0
    session.execute(update(PortraitReview).where(PortraitReview.id.in_(reviews))
                    .values(status=PortraitReviewStatus.VOIDED, voided_at=now)
                    .execution_options(synchronize_session=False))
    for review_id in reviews:
        record(session, context, "consent:portrait_review:void", f"portrait_review:{review_id}",
               now=now, payload={"consent_id": str(consent_id), "reason": reason})
    return len(reviews)


def partner_review(session: Session, organisation_id: uuid.UUID, subject_id: uuid.UUID,
                   review_id: uuid.UUID) -> PortraitReview:
    """A review of the partner's own portrait of its subject; anyone else's is NotFound."""
    review = session.get(PortraitReview, review_id, populate_existing=True)
    if review is None or review.organisation_id != organisation_id \
            or review.subject_id != subject_id:
        raise NotFound(f"no portrait review {review_id}", resource="portrait_review",
                       id=str(review_id))
    return review

