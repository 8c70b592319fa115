"""The consent gate as the job code sees it: a callable given in, never imported.

The rules live in ``policy.consent``; loading a subject's consent and reference portraits is the
service's business. Whoever wires the application composes the two into a ``ConsentGate`` and
passes it to ``submit_job`` (and to the worker, which asks again just before rendering: a
consent revoked while the job waited in the queue must stop it). A gate either returns a
decision (``allowed``, a stable ``reason`` code, the ``consent_id`` it relied on - the shape
of ``policy.consent.ConsentDecision``) or raises a
``PolicyError`` whose ``code`` names the refusal; both end as ``ConsentRefused``. A gate may
raise ``ConsentRefused`` itself when its refusal has details of its own for the partner (the
application's gate names the officer's review of a portrait in the live-capture match's
officer band: ``service.domain.portrait_reviews``).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from policy.errors import PolicyError
from service.errors import ConsentRefused


class GateStage(enum.StrEnum):
    SUBMIT = "submit"  # the API accepting a job
    RUN = "run"  # a worker about to render it


@dataclass(frozen=True)
class GateRequest:
    """What a job asks of a subject's consent."""

    organisation_id: uuid.UUID
    subject_id: uuid.UUID
    purpose: str
    portrait_asset_id: uuid.UUID
    audio_asset_id: uuid.UUID
    is_test: bool
    now: datetime
    stage: GateStage


class GateDecision(Protocol):
    @property
    def allowed(self) -> bool: ...

    @property
    def reason(self) -> str | None:
        """Why it was refused, as a stable code ("consent_revoked"...); None when allowed."""
        ...

    @property
    def consent_id(self) -> uuid.UUID | None: ...


ConsentGate = Callable[[Session, GateRequest], GateDecision]


# What the partner can do where the code alone does not say it. No distances: a score would be
# an oracle for tuning a portrait of someone else against the subject's face.
NEXT_STEP = {
    "face_match_review": "the portrait is close to the subject's live capture but not clearly "
                         "the same person, so it is not used without a compliance officer's "
                         "review: submit a clear, frontal, recent portrait of the subject, or "
                         "submit a job with this portrait again, which files it for review",
}


def check_consent(session: Session, gate: ConsentGate, request: GateRequest) -> uuid.UUID:
    """The consent the job may rely on; ``ConsentRefused`` (with ``reason``) otherwise."""
    try:
        decision = gate(session, request)
    except PolicyError as exc:
        raise ConsentRefused(f"consent refused: {exc.message}", reason=exc.code,
                             subject_id=str(request.subject_id)) from exc
    if not decision.allowed:
        reason = str(decision.reason or "consent_refused")
        step = f": {NEXT_STEP[reason]}" if reason in NEXT_STEP else ""
        raise ConsentRefused(f"consent refused ({reason}){step}", reason=reason,
                             subject_id=str(request.subject_id))
    if decision.consent_id is None:
        # A gate that allows without naming its consent would leave the job unaccountable.
        raise ConsentRefused("the consent gate allowed the job without naming a consent",
                             reason="consent_unnamed", subject_id=str(request.subject_id))
    return decision.consent_id
