"""Exports of the audit log for officers and third parties: JSON Lines bundle, CSV, OCSF.

- ``jsonl``: the offline bundle (``policy.audit.bundle``): the latest signed checkpoint, then
  each matching event exactly as hashed (personal fields stay sealed) with its inclusion proof
  against that checkpoint, then an end line. Anyone holding the log's public key checks it
  with ``likeness audit verify-bundle`` and nothing else. Only events the checkpoint covers
  can be proven, so the bundle stops at the checkpoint's size.
- ``csv``: one flat row per event, personal fields opened (``[erased]`` once erased).
- ``ocsf``: one OCSF API Activity object per line (``service.audit.ocsf``), opened likewise.

``start_export`` fixes what the export covers (every matching event up to one sequence number)
and records the ``compliance:audit:export`` event in the caller's transaction; ``export_chunks``
then streams it page by page, each page in its own short transaction, so a long export neither
holds locks nor piles up memory, and events arriving meanwhile do not change it.
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from policy.audit.bundle import checkpoint_line, end_line, event_line
from policy.audit.checkpoint import NoteVerifier
from policy.audit.merkle import inclusion_proof, nodes_for_inclusion
from service.audit.ocsf import product_version, to_ocsf
from service.audit.personal import AuditKeyring
from service.audit.proofs import require_latest
from service.audit.query import (
    MAX_LIMIT,
    AuditFilter,
    AuditRecord,
    Order,
    query_events,
    refresh_log,
)
from service.audit.tree_store import fetch_nodes
from service.db.audit import AuditContext, SqlAuditStore, record
from service.db.types import new_id, utcnow
from service.errors import KeysMissing

CSV_COLUMNS = ("seq", "occurred_at", "actor", "action", "resource", "outcome", "request_id",
               "client_address", "organisation_id", "subject_id", "job_id", "payload",
               "prev_hash", "hash")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(enum.StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    OCSF = "ocsf"


MEDIA_TYPES = {ExportFormat.JSONL: "application/x-ndjson", ExportFormat.CSV: "text/csv",
               ExportFormat.OCSF: "application/x-ndjson"}
SUFFIXES = {ExportFormat.JSONL: ".jsonl", ExportFormat.CSV: ".csv",
            ExportFormat.OCSF: ".ocsf.jsonl"}


@dataclass(frozen=True)
class ExportPlan:
    """What one export covers: matching events with ``seq <= through_seq``."""

    export_id: str
    format: ExportFormat
    filter: AuditFilter
    through_seq: int
    checkpoint_note: str | None  # the bundle's checkpoint (jsonl only)
    newer_events: int  # sequenced after ``through_seq``: left for the next checkpoint (jsonl)


def start_export(session: Session, context: AuditContext, fmt: ExportFormat,
                 flt: AuditFilter, *, verifier: NoteVerifier | None = None) -> ExportPlan:
    """Fix the export's range and record ``compliance:audit:export`` (the caller commits).

    A ``jsonl`` bundle needs the log's ``verifier``: its latest checkpoint is checked before
    anything is proven against it.
    """
    fmt = ExportFormat(fmt)
    refresh_log(session)
    head = SqlAuditStore().head(session)
    note, through = None, head.seq
    if fmt == ExportFormat.JSONL:
        if verifier is None:
            raise KeysMissing("a JSON Lines bundle needs the audit log's verifier key")
        latest = require_latest(session, verifier)
        note, through = latest.note, latest.checkpoint.size
    plan = ExportPlan(export_id=str(new_id()), format=fmt, filter=flt, through_seq=through,
                      checkpoint_note=note, newer_events=head.seq - through)
    record(session, context, "compliance:audit:export", f"audit_export:{plan.export_id}",
           now=utcnow(), payload={"format": fmt.value, "filter": flt.describe(),
                                  "through_seq": through})
    return plan


def export_chunks(sessions: sessionmaker[Session], plan: ExportPlan,
                  keyring: AuditKeyring | None, *, page: int = MAX_LIMIT) -> Iterator[str]:
    """The export's text, a page of events at a time (stream it or join it)."""
    if plan.format == ExportFormat.JSONL:
        yield from _bundle(sessions, plan, page)
        return
    render: Callable[[AuditRecord], str]
    if plan.format == ExportFormat.CSV:
        yield _csv_line(CSV_COLUMNS)
        render = _csv_record
    else:
        render = functools.partial(_ocsf_line, product=product_version())
    for records in _pages(sessions, plan, keyring, page):
        yield "".join(render(r) for r in records)


def _csv_record(r: AuditRecord) -> str:
    return _csv_line(csv_row(r))


def _ocsf_line(r: AuditRecord, product: str) -> str:
    return json.dumps(to_ocsf(r, product), ensure_ascii=False) + "\n"


def _bundle(sessions: sessionmaker[Session], plan: ExportPlan, page: int) -> Iterator[str]:
    assert plan.checkpoint_note is not None  # start_export sets it for jsonl
    yield checkpoint_line(plan.checkpoint_note, contiguous=not plan.filter.describe()) + "\n"
    count = 0
    for records, proofs in _pages_with_proofs(sessions, plan, page):
        yield "".join(event_line(r.chained(), proof) + "\n"
                      for r, proof in zip(records, proofs, strict=True))
        count += len(records)
    yield end_line(count) + "\n"


def _pages(sessions: sessionmaker[Session], plan: ExportPlan, keyring: AuditKeyring | None,
           page: int) -> Iterator[tuple[AuditRecord, ...]]:
    cursor: int | None = None
    while True:
        with sessions() as session, session.begin():
            found = query_events(session, plan.filter, order=Order.OLDEST, cursor=cursor,
                                 limit=page, keyring=keyring, through_seq=plan.through_seq)
        if found.records:
            yield found.records
        if found.next_cursor is None:
            return
        cursor = found.next_cursor


def _pages_with_proofs(sessions: sessionmaker[Session], plan: ExportPlan, page: int
                       ) -> Iterator[tuple[tuple[AuditRecord, ...], list[Sequence[bytes]]]]:
    cursor: int | None = None
    size = plan.through_seq
    while True:
        with sessions() as session, session.begin():
            found = query_events(session, plan.filter, order=Order.OLDEST, cursor=cursor,
                                 limit=page, through_seq=size)
            keys = [key for r in found.records for key in nodes_for_inclusion(r.seq - 1, size)]
            nodes = fetch_nodes(session, keys)
        proofs = [inclusion_proof(nodes, r.seq - 1, size) for r in found.records]
        if found.records:
            yield found.records, proofs
        if found.next_cursor is None:
            return
        cursor = found.next_cursor


def csv_row(r: AuditRecord) -> tuple[str, ...]:
    refs = r.refs
    return (str(r.seq), r.occurred_at.isoformat(), r.actor, r.action, r.resource,
            r.outcome.value, r.request_id or "", r.client_address or "",
            _str(refs.organisation_id), _str(refs.subject_id), _str(refs.job_id),
            json.dumps(r.payload, ensure_ascii=False, sort_keys=True), r.prev_hash, r.hash)


def _csv_line(values: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([_defused(v) for v in values])
    return buffer.getvalue()


def _defused(value: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _str(value: object) -> str:
    return "" if value is None else str(value)
