"""Verifying consent evidence in the workers: the relay that sends it and the task that runs it.

A consent request enters ``verifying`` in the same transaction that stores its evidence; that
state *is* its outbox entry. ``VerificationRelay`` sends it after the commit (``send_now``) and
the workers' maintenance loop sends again whatever is still verifying and unsent, or was sent
long ago (``relay_once``): a process that dies between commit and send, or a broker that loses
the message, delays a verification but never loses it.

``run_verification`` is the task (``likeness.consent.verify``, on the workers' queue): read the
request and the subject's reference faces, decode the clip and run the evidence checks
(``service.domain.evidence_assessment``) with no transaction open, then decide in one
transaction (``service.domain.consent_decisions``), fenced on the request still verifying -
so a duplicate delivery decides nothing twice. Evidence that cannot be read at all is a
decision too: rejected, with the reason. Transient database or broker errors are retried.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from service.db.engine import session_scope
from service.db.models import Asset, ConsentRequest, ConsentRequestStatus
from service.db.types import utcnow
from service.domain.consent_decisions import apply_assessment
from service.domain.face_templates import TemplateBox
from service.errors import BrokerUnavailable
from service.jobs.celery_app import PUBLISH_RETRY, VERIFY_TASK
from service.settings import Settings
from service.storage import BlobStore, make_blob_store

if TYPE_CHECKING:
    from service.jobs.runtime import WorkerRuntime

log = logging.getLogger(__name__)

RELAY_BATCH = 50
MAX_ERROR_CHARS = 2000
MAX_TASK_RETRIES = 5
# A request sent this many times and still verifying (its task keeps failing) goes to an
# officer instead of round the loop again.
MAX_VERIFY_SENDS = 5


@dataclass(frozen=True)
class VerifierRuntime:
    """What a verification needs: settings, database, blob store, the template key."""

    settings: Settings
    sessions: sessionmaker[Session]
    blobs: BlobStore
    templates: TemplateBox

    @classmethod
    def build(cls, settings: Settings, sessions: sessionmaker[Session],
              blobs: BlobStore | None = None) -> VerifierRuntime:
        return cls(settings, sessions, blobs or make_blob_store(settings),
                   TemplateBox.from_settings(settings))

    @classmethod
    def of_worker(cls, runtime: WorkerRuntime) -> VerifierRuntime:
        return cls.build(runtime.settings, runtime.sessions, runtime.blobs)


@dataclass(frozen=True)
class VerificationOutcome:
    request_id: str
    outcome: str  # "decided", "skipped" (not verifying: decided already, or unknown)
    status: str | None
    decision: str | None = None


def run_verification(runtime: VerifierRuntime, request_id: uuid.UUID) -> VerificationOutcome:
    from service.domain.evidence_assessment import assess_request, gather_inputs

    with session_scope(runtime.sessions) as session:
        inputs = gather_inputs(session, runtime.templates, request_id)
    if inputs is None:
        log.info("consent request %s is not verifying: nothing to do", request_id)
        return VerificationOutcome(str(request_id), "skipped", None)
    assessment = assess_request(runtime.settings, runtime.blobs, inputs)
    with session_scope(runtime.sessions) as session:
        request = apply_assessment(session, runtime.templates, request_id=request_id,
                                   assessment=assessment, now=utcnow())
        if request is None:
            return VerificationOutcome(str(request_id), "skipped", None)
        status, decision = request.status.value, request.decision
    log.info("consent request %s decided: %s (%s)", request_id, status, decision)
    return VerificationOutcome(str(request_id), "decided", status, decision)


class EvidencePublisher:
    """Puts one verification task on the workers' queue."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def publish(self, request_id: uuid.UUID, attempt: int) -> None:
        try:
            self._app.send_task(VERIFY_TASK, args=[str(request_id)],
                                task_id=f"verify-{request_id}-{attempt}", retry=True,
                                retry_policy=PUBLISH_RETRY)
        except (KombuOperationalError, OSError) as exc:
            raise BrokerUnavailable(f"the task broker is unavailable: {exc}",
                                    request_id=str(request_id)) from exc


class VerificationRelay:
    """Sends verifying requests to the workers; see the module docstring."""

    def __init__(self, sessions: sessionmaker[Session], publisher: EvidencePublisher, *,
                 resend_after_seconds: float) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._resend_after = timedelta(seconds=resend_after_seconds)

    def send_now(self, request_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """Send these (after the commit that made them verifying); never raises for a broker
        that is down: they stay due and the periodic relay sends them later."""
        return self._round(list(request_ids), utcnow()) if request_ids else []

    def relay_once(self, now: datetime | None = None) -> list[uuid.UUID]:
        return self._round(None, now or utcnow())

    def _round(self, only: list[uuid.UUID] | None, now: datetime) -> list[uuid.UUID]:
        sent: list[uuid.UUID] = []
        with session_scope(self._sessions) as session:
            for request in self._due(session, only, now):
                if request.verify_attempts >= MAX_VERIFY_SENDS:
                    self._give_up(session, request, now)
                    continue
                request.verify_attempts += 1
                try:
                    self._publisher.publish(request.id, request.verify_attempts)
                except BrokerUnavailable as exc:
                    request.verify_last_error = str(exc)[:MAX_ERROR_CHARS]
                    log.warning("consent request %s not sent (%s); will retry", request.id, exc)
                    break
                request.verify_sent_at = utcnow()
                request.verify_last_error = None
                sent.append(request.id)
        return sent

    @staticmethod
    def _give_up(session: Session, request: ConsentRequest, now: datetime) -> None:
        from service.domain.evidence_assessment import not_verified

        log.error("consent request %s: verification failed %d times; sent to an officer",
                  request.id, request.verify_attempts)
        asset = session.get(Asset, request.evidence_asset_id) \
            if request.evidence_asset_id else None
        apply_assessment(session, None, request_id=request.id,
                         assessment=not_verified(asset.sha256 if asset else ""), now=now)

    def _due(self, session: Session, only: list[uuid.UUID] | None,
             now: datetime) -> Sequence[ConsentRequest]:
        query = (select(ConsentRequest)
                 .where(ConsentRequest.status == ConsentRequestStatus.VERIFYING)
                 .order_by(ConsentRequest.submitted_at).limit(RELAY_BATCH)
                 .with_for_update(skip_locked=True)
                 .execution_options(populate_existing=True))
        if only is not None:
            query = query.where(ConsentRequest.id.in_(only),
                                ConsentRequest.verify_sent_at.is_(None))
        else:
            query = query.where(or_(ConsentRequest.verify_sent_at.is_(None),
                                    ConsentRequest.verify_sent_at < now - self._resend_after))
        return session.scalars(query).all()


def make_verification_relay(settings: Settings, sessions: sessionmaker[Session],
                            app: Celery) -> VerificationRelay:
    return VerificationRelay(sessions, EvidencePublisher(app),
                             resend_after_seconds=settings.outbox_resend_after_seconds)


def register_evidence_tasks(app: Any) -> None:
    """Register ``likeness.consent.verify`` on a ``LikenessCelery`` app."""
    from service.jobs.tasks import TRANSIENT_ERRORS

    @app.task(name=VERIFY_TASK, bind=True, acks_late=True, max_retries=MAX_TASK_RETRIES,
              shared=False)
    def verify_consent_evidence(task: Any, request_id: str) -> dict[str, Any]:
        try:
            outcome = run_verification(VerifierRuntime.of_worker(app.runtime()),
                                       uuid.UUID(request_id))
        except TRANSIENT_ERRORS as exc:
            raise task.retry(exc=exc, countdown=min(2 ** task.request.retries, 30)) from exc
        return dataclasses.asdict(outcome)
