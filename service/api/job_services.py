"""What the jobs routes need besides ``ApiServices``: the consent gate and the outbox relay.

Built once by ``create_app`` and kept on ``app.state.jobs``. The gate is the application's own
(``service.jobs.consent.real_gate``), the same one every worker asks again before rendering.
The relay publishes through a Celery app that is only ever a client here: it never loads the
model. A submission commits first and is sent afterwards (by the ``OutboxSender``, which
batches the rounds of concurrent requests); a broker that is down costs nothing but latency,
since the workers' maintenance loop sends whatever is still due.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from service.api.outbox_sender import OutboxSender
from service.jobs import CeleryPublisher, ConsentGate, LikenessCelery, OutboxRelay, make_celery
from service.jobs.consent import real_gate
from service.settings import Settings


@dataclass(frozen=True)
class JobServices:
    gate: ConsentGate
    relay: OutboxRelay
    celery: LikenessCelery | None  # the publishing client, closed with the app
    sender: OutboxSender  # the relay's rounds after commit, batched (``outbox_sender``)

    def close(self) -> None:
        self.sender.close()
        if self.celery is not None:
            self.celery.close()


def build_job_services(settings: Settings, sessions: sessionmaker[Session]) -> JobServices:
    gate = real_gate(settings)
    celery = make_celery(settings, gate)
    relay = OutboxRelay(sessions, CeleryPublisher(celery),
                        resend_after_seconds=settings.outbox_resend_after_seconds)
    return JobServices(gate, relay, celery, OutboxSender(relay))


def get_job_services(request: Request) -> JobServices:
    return request.app.state.jobs


JobServicesDep = Annotated[JobServices, Depends(get_job_services)]
