"""The audit log's integrity for compliance officers (and nobody else):

- ``GET /v1/audit/verify``: sequence what is waiting, then recompute the chain, the Merkle tree
  and every signed checkpoint from genesis; ``ok`` and the first bad entry (an audit event
  itself). It reads the whole log: minutes on a very long one.
- ``GET /v1/audit/checkpoints/latest``: the newest signed checkpoint (a signed note that
  verifies with the log's public key, also returned).
- ``GET /v1/audit/events/{seq}/proof``: event ``seq`` with its inclusion proof against the
  latest checkpoint.
- ``GET /v1/audit/consistency?from=&to=``: the consistency proof between two checkpoints.

Hashes are lowercase hex; checkpoints travel as their signed notes. Queries and exports live in
``service.api.routes.audit_query``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from policy.audit import Outcome
from service.api.deps import OfficerDep, ServicesDep, audit_context
from service.audit.log_keys import load_log_verifier
from service.audit.proofs import checkpoint_json, prove_consistency, prove_event, require_latest
from service.audit.sequencer import sequence_pending
from service.audit.verify import report_json, verify_now
from service.db.audit import record
from service.db.engine import session_scope

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class CheckpointPublic(BaseModel):
    origin: str
    tree_size: int
    root_hash: str
    timestamp: str
    note: str  # the signed note: what a third party verifies


class LatestCheckpoint(BaseModel):
    checkpoint: CheckpointPublic
    verifier_key: str  # the log's public key, note verifier format


class BadEntry(BaseModel):
    seq: int
    reason: str
    detail: str


class ChainHeadPublic(BaseModel):
    seq: int
    hash: str


class ExportedCheckpoint(BaseModel):
    tree_size: int
    root_hash: str
    timestamp: str


class VerificationPublic(BaseModel):
    ok: bool
    events: int
    head: ChainHeadPublic
    tree_size: int
    root_hash: str
    checkpoints: int
    latest_exported: ExportedCheckpoint | None
    first_bad: BadEntry | None
    problems: list[BadEntry]  # everything found before verification stopped, by seq


class EventProofPublic(BaseModel):
    seq: int
    leaf_index: int
    event: dict[str, Any]  # the canonical event document: its bytes are the leaf's data
    prev_hash: str
    hash: str
    leaf_hash: str
    inclusion_path: list[str]
    checkpoint: CheckpointPublic


class ConsistencyPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: CheckpointPublic = Field(alias="from")
    to: CheckpointPublic
    consistency_path: list[str]


@router.get("/verify", response_model=VerificationPublic)
def verify_log(request: Request, services: ServicesDep,
               officer: OfficerDep) -> VerificationPublic:
    settings = services.settings
    report = verify_now(services.sessions, load_log_verifier(settings),
                        settings.audit_checkpoint_root, batch=settings.audit_sequencer_batch)
    body = report_json(report)
    with session_scope(services.sessions) as session:
        payload = {"ok": report.ok, "events": report.events}
        if report.broken is not None:
            payload |= {"first_bad_seq": report.broken.seq,
                        "reason": report.broken.reason.value}
        record(session, audit_context(request, officer), "audit:log:verify",
               "audit_log:verify", payload=payload,
               outcome=Outcome.SUCCESS if report.ok else Outcome.FAILURE)
    return VerificationPublic(**body)


@router.get("/checkpoints/latest", response_model=LatestCheckpoint)
def latest_checkpoint(services: ServicesDep, officer: OfficerDep) -> LatestCheckpoint:
    verifier = load_log_verifier(services.settings)
    with services.sessions() as session:
        latest = require_latest(session, verifier)
    return LatestCheckpoint(checkpoint=CheckpointPublic(**checkpoint_json(latest)),
                            verifier_key=verifier.vkey)


@router.get("/events/{seq}/proof", response_model=EventProofPublic)
def event_proof(seq: int, services: ServicesDep, officer: OfficerDep) -> EventProofPublic:
    verifier = load_log_verifier(services.settings)
    sequence_pending(services.sessions, batch=services.settings.audit_sequencer_batch)
    with services.sessions() as session:
        proof = prove_event(session, verifier, seq)
    return EventProofPublic(**proof.to_json())


@router.get("/consistency", response_model=ConsistencyPublic)
def consistency(services: ServicesDep, officer: OfficerDep,
                old_size: Annotated[int, Query(alias="from", ge=0)],
                new_size: Annotated[int, Query(alias="to", ge=0)]) -> ConsistencyPublic:
    verifier = load_log_verifier(services.settings)
    with services.sessions() as session:
        proof = prove_consistency(session, verifier, old_size, new_size)
    return ConsistencyPublic.model_validate(proof.to_json())
