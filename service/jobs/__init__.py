"""Generation jobs: submission, the transactional outbox, leases and the Celery GPU worker.

One request flows one way: ``submit_job`` (consent gate, job + outbox + audit in one
transaction) -> ``OutboxRelay`` (sends after commit, re-sends what the broker never got) ->
broker (``gpu`` queue) -> ``run_job`` in a worker (lease, heartbeat, release path, artifact +
audit in one transaction). ``reap_expired_leases`` re-queues the jobs of dead workers and
``cancel_job`` stops a job from anywhere. Delivery is at least once; every step is idempotent.
"""

from service.jobs.cancel import cancel_job
from service.jobs.celery_app import (
    RENDER_TASK,
    CeleryPublisher,
    LikenessCelery,
    make_celery,
)
from service.jobs.controls import controls_json, parse_controls
from service.jobs.gate import ConsentGate, GateDecision, GateRequest, GateStage
from service.jobs.leases import reap_expired_leases, take_lease
from service.jobs.outbox import (
    OutboxRelay,
    Publisher,
    RelayReport,
    maintain_once,
    run_maintenance,
)
from service.jobs.submit import JobSubmission, submit_job
from service.jobs.tasks import RenderOutcome, run_job

__all__ = [
    "RENDER_TASK", "CeleryPublisher", "ConsentGate", "GateDecision", "GateRequest", "GateStage",
    "JobSubmission", "LikenessCelery", "OutboxRelay", "Publisher", "RelayReport",
    "RenderOutcome", "cancel_job", "controls_json", "maintain_once", "make_celery",
    "parse_controls", "reap_expired_leases", "run_job", "run_maintenance", "submit_job",
    "take_lease",
]
