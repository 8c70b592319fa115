"""The consent gate's rules, one reason code at a time, over plain facts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from policy.consent import (
    ConsentFacts,
    ConsentState,
    Reason,
    SubjectFacts,
    consent_gate,
    decide,
    match_face,
)
from policy.errors import ConsentError, FaceMismatch, PurposeNotCovered

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ORG, OTHER = uuid.uuid4(), uuid.uuid4()
RNG = np.random.default_rng(3)
REFERENCE = (RNG.normal(size=128) * 0.05).astype(np.float32)


def _near(distance: float) -> np.ndarray:
    """An encoding exactly ``distance`` from the reference."""
    direction = RNG.normal(size=128)
    return (REFERENCE + distance * direction / np.linalg.norm(direction)).astype(np.float32)


def _consent(state: ConsentState = ConsentState.APPROVED, *, org: uuid.UUID = ORG,
             purposes: tuple[str, ...] = ("dubbing",),
             expires: timedelta | None = timedelta(days=1),
             age: timedelta = timedelta(days=3)) -> ConsentFacts:
    return ConsentFacts(uuid.uuid4(), org, state, frozenset(purposes),
                        None if expires is None else NOW + expires, NOW - age)


def _decide(*consents: ConsentFacts, purpose: str = "dubbing", distance: float = 0.3,
            references: tuple[np.ndarray, ...] = (REFERENCE,)):
    subject = SubjectFacts(uuid.uuid4(), consents, references)
    return decide(subject, organisation_id=ORG, purpose=purpose, portrait_encoding=_near(distance),
                  now=NOW, threshold=0.5)


def test_an_approved_covering_consent_and_matching_face_pass() -> None:
    consent = _consent()
    decision = _decide(consent)
    assert decision.allowed and decision.reason is None
    assert decision.consent_id == consent.consent_id
    assert decision.face is not None and decision.face.distance == pytest.approx(0.3, abs=1e-5)
    decision.raise_if_refused()  # no error


@pytest.mark.parametrize(("consents", "purpose", "reason"), [
    ((), "dubbing", Reason.CONSENT_MISSING),
    ((_consent(ConsentState.PENDING),), "dubbing", Reason.CONSENT_PENDING),
    ((_consent(ConsentState.REJECTED),), "dubbing", Reason.CONSENT_REJECTED),
    ((_consent(ConsentState.REVOKED),), "dubbing", Reason.CONSENT_REVOKED),
    ((_consent(expires=timedelta(0)),), "dubbing", Reason.CONSENT_EXPIRED),
    ((_consent(),), "advertising", Reason.PURPOSE_NOT_COVERED),
    ((_consent(org=OTHER),), "dubbing", Reason.PARTNER_NOT_COVERED),
])
def test_each_refusal_has_its_reason(consents, purpose: str, reason: Reason) -> None:
    decision = _decide(*consents, purpose=purpose)
    assert not decision.allowed and decision.reason == reason
    assert decision.face is None  # the face is only measured once a consent covers the request
    with pytest.raises(ConsentError) as raised:
        decision.raise_if_refused()
    assert raised.value.code == reason.value


def test_face_mismatch_reports_distance_and_threshold() -> None:
    decision = _decide(_consent(), distance=0.8)
    assert decision.reason == Reason.FACE_MISMATCH
    assert decision.face.distance == pytest.approx(0.8, abs=1e-5) and decision.face.threshold == 0.5
    with pytest.raises(FaceMismatch) as raised:
        decision.raise_if_refused()
    assert raised.value.context["distance"] == pytest.approx(0.8, abs=1e-5)
    assert _decide(_consent(), distance=0.5 - 1e-4).allowed  # the threshold is inclusive
    assert _decide(_consent(), references=()).reason == Reason.FACE_MISMATCH


def test_newest_refusal_is_reported_but_any_covering_consent_wins() -> None:
    revoked_new = _consent(ConsentState.REVOKED, age=timedelta(days=1))
    approved_old = _consent(age=timedelta(days=5))
    assert _decide(revoked_new, approved_old).consent_id == approved_old.consent_id
    pending_new = _consent(ConsentState.PENDING, age=timedelta(hours=1))
    rejected_old = _consent(ConsentState.REJECTED, age=timedelta(days=9))
    decision = _decide(rejected_old, pending_new)
    assert decision.reason == Reason.CONSENT_PENDING
    assert decision.consent_id == pending_new.consent_id
    with pytest.raises(PurposeNotCovered):
        _decide(_consent(purposes=("education",))).raise_if_refused()


def test_no_expiry_and_unknown_subject_and_naive_time() -> None:
    assert _decide(_consent(expires=None)).allowed
    decision = decide(None, organisation_id=ORG, purpose="dubbing", portrait_encoding=REFERENCE,
                      now=NOW)
    assert decision.reason == Reason.CONSENT_MISSING
    with pytest.raises(ValueError, match="aware"):
        decide(None, organisation_id=ORG, purpose="x", portrait_encoding=REFERENCE,
               now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="128"):
        match_face(np.zeros(64, np.float32), [REFERENCE])


def test_consent_gate_reads_facts_through_the_source() -> None:
    consent = _consent()
    subject = SubjectFacts(uuid.uuid4(), (consent,), (REFERENCE,))

    class Source:
        def __init__(self) -> None:
            self.asked: list[tuple[object, uuid.UUID]] = []

        def subject_facts(self, session: object, subject_id: uuid.UUID) -> SubjectFacts | None:
            self.asked.append((session, subject_id))
            return subject if subject_id == subject.subject_id else None

    source, session = Source(), object()
    decision = consent_gate(source, session, organisation_id=ORG, subject_id=subject.subject_id,
                            purpose="dubbing", portrait_encoding=_near(0.2), now=NOW)
    assert decision.allowed and source.asked == [(session, subject.subject_id)]
