"""Key rotation for sealed values: re-seal every stored value under the current key.

Face encodings (``face_templates.ciphertext``, ``assets.face_encoding``: ``TemplateBox``) and
webhook secrets (``webhook_endpoints.secret_ciphertext``: ``SecretBox``) are AES-256-GCM
envelopes that name the key that sealed them (``service.secret_files``). A rotation is:

1. every process gets the new key as the current one and the old key among the previous ones
   (``LIKENESS_FACE_TEMPLATE_KEY`` + ``LIKENESS_FACE_TEMPLATE_PREVIOUS_KEYS``, likewise
   ``LIKENESS_WEBHOOK_SECRET_...``): new values are sealed under the new key, old ones still open;
2. ``likeness keys rotate-face-templates`` / ``rotate-webhook-secrets`` (``rotate``) opens each
   stored value under whichever configured key sealed it and seals it again under the current
   key, one transaction per batch of rows (locked while re-sealed);
3. once a run reports nothing left and nothing unreadable, the old key is dropped.

A run is idempotent and resumable: a value already under the current key is skipped, so after
a crash the next run picks up where the committed batches stopped. A value that opens under no
configured key (altered, copied from another row, or sealed under a key that is not configured)
is left exactly as it is and named in the report; the run goes on with the others. The whole
run is one audit event (counts, key id, the first 1,000 unreadable ids), written when it ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from policy.audit import Outcome
from service.auth.users import require_role
from service.db.audit import AuditContext, record
from service.db.engine import session_scope
from service.db.models import Asset, FaceTemplate, Role, WebhookEndpoint
from service.domain.face_templates import WHAT as FACE_KEY
from service.domain.face_templates import TemplateBox
from service.errors import SealedValueUnreadable, SealingKeyMismatch
from service.webhooks.secrets import WHAT as WEBHOOK_KEY
from service.webhooks.secrets import SecretBox

DEFAULT_BATCH = 500
_NAMED = 20  # unreadable ids named in the error's message
_AUDITED = 1000  # ... and in the audit event (a wrong key would list every row)


@dataclass(frozen=True)
class ColumnRotation:
    """One sealed column after a run."""

    name: str  # "face_templates", "portrait_encodings", "webhook_secrets"
    resealed: int  # opened under a previous key (or a version-1 envelope), sealed anew
    current: int  # already under the current key: left alone
    unreadable: tuple[str, ...]  # ids of rows no configured key opens: left alone


@dataclass(frozen=True)
class RotationReport:
    key: str  # which key: "face template key", "webhook secret key"
    key_id: str  # the current key's id (hex), the one everything is now sealed under
    columns: tuple[ColumnRotation, ...]

    @property
    def unreadable(self) -> tuple[str, ...]:
        return tuple(row for column in self.columns for row in column.unreadable)

    def raise_if_unreadable(self) -> None:
        """``SealedValueUnreadable`` naming the rows this run could not re-seal (the first
        ``_NAMED``; every id is in ``row_ids`` and the CLI's output)."""
        rows = self.unreadable
        if not rows:
            return
        named = ", ".join(rows[:_NAMED]) + (f" and {len(rows) - _NAMED} more"
                                            if len(rows) > _NAMED else "")
        opened_any = any(c.resealed or c.current for c in self.columns)
        hint = ("configure the key that sealed them as a previous key and run again, or have "
                "those rows registered anew") if opened_any else (
                "no configured key opens any stored value: check the current and previous keys")
        raise SealedValueUnreadable(f"{len(rows)} value(s) open under no configured {self.key} "
                                    f"and were left unchanged: {named} ({hint})",
                                    row_ids=list(rows))


@dataclass(frozen=True)
class _Column:
    name: str
    model: Any  # a mapped class with a UUID ``id``
    attribute: str  # the sealed column
    reseal: Callable[[Any], bytes]  # the row's value opened, then sealed under the current key
    is_current: Callable[[bytes], bool]


def rotate_face_templates(sessions: sessionmaker[Session], context: AuditContext,
                          box: TemplateBox, *, operator_id: uuid.UUID,
                          batch_size: int = DEFAULT_BATCH) -> RotationReport:
    """Re-seal live-capture templates and portrait encodings under ``box``'s current key."""
    columns = (
        _Column("face_templates", FaceTemplate, "ciphertext",
                lambda row: box.seal(row.id, row.subject_id,
                                     box.open(row.id, row.subject_id, row.ciphertext)),
                box.is_current),
        _Column("portrait_encodings", Asset, "face_encoding",
                lambda row: box.seal_portrait(row.id, row.organisation_id, box.open_portrait(
                    row.id, row.organisation_id, row.face_encoding)),
                box.is_current),
    )
    return _rotate(sessions, context, FACE_KEY, box.key_id, columns, operator_id, batch_size)


def rotate_webhook_secrets(sessions: sessionmaker[Session], context: AuditContext,
                           box: SecretBox, *, operator_id: uuid.UUID,
                           batch_size: int = DEFAULT_BATCH) -> RotationReport:
    """Re-seal every endpoint's signing secret (deleted endpoints' too) under the current key."""
    columns = (
        _Column("webhook_secrets", WebhookEndpoint, "secret_ciphertext",
                lambda row: box.seal(row.id, box.open(row.id, row.secret_ciphertext)),
                box.is_current),
    )
    return _rotate(sessions, context, WEBHOOK_KEY, box.key_id, columns, operator_id, batch_size)


def _rotate(sessions: sessionmaker[Session], context: AuditContext, key: str, key_id: str,
            columns: tuple[_Column, ...], operator_id: uuid.UUID,
            batch_size: int) -> RotationReport:
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    with session_scope(sessions) as session:
        require_role(session, operator_id, Role.OPERATOR)  # before touching any row
    report = RotationReport(key, key_id, tuple(_rotate_column(sessions, column, batch_size)
                                               for column in columns))
    with session_scope(sessions) as session:
        record(session, context, f"keys:{key.replace(' ', '_')}:rotate", f"key:{key_id}",
               outcome=Outcome.FAILURE if report.unreadable else Outcome.SUCCESS,
               payload={"key_id": key_id, "operator_id": str(operator_id),
                        "batch_size": batch_size,
                        "columns": {c.name: {"resealed": c.resealed, "current": c.current,
                                             "unreadable_count": len(c.unreadable),
                                             "unreadable": list(c.unreadable[:_AUDITED])}
                                    for c in report.columns}})
    return report


def _rotate_column(sessions: sessionmaker[Session], column: _Column,
                   batch_size: int) -> ColumnRotation:
    model, sealed = column.model, getattr(column.model, column.attribute)
    after: uuid.UUID | None = None
    resealed, current, unreadable = 0, 0, []
    while True:
        with session_scope(sessions) as session:  # one batch, one transaction
            query = select(model).where(sealed.is_not(None)).order_by(model.id).limit(batch_size)
            if after is not None:
                query = query.where(model.id > after)
            rows = session.scalars(query.with_for_update()).all()
            for row in rows:
                if column.is_current(getattr(row, column.attribute)):
                    current += 1
                    continue
                try:
                    setattr(row, column.attribute, column.reseal(row))
                except (SealingKeyMismatch, SealedValueUnreadable):
                    unreadable.append(str(row.id))
                    continue
                resealed += 1
            last = rows[-1].id if len(rows) == batch_size else None
        if last is None:
            return ColumnRotation(column.name, resealed, current, tuple(unreadable))
        after = last
