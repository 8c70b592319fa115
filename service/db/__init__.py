"""Persistence: SQLAlchemy 2 models, engines/sessions and the SQL audit store.

PostgreSQL is the source of truth in deployment; SQLite is the embedded default. The schema is
created by Alembic migrations (``migrations/``, ``alembic upgrade head``), never by
``create_all``: the migration also seeds the audit chain head and installs the append-only
triggers. Service functions take a ``Session``, flush, append their audit event and leave the
commit to the caller (``session_scope``).
"""

from service.db import models
from service.db.audit import AuditContext, SqlAuditStore, record, verify_audit_chain
from service.db.base import Base
from service.db.engine import make_engine, make_session_factory, session_scope
from service.db.types import new_id, utcnow

__all__ = [
    "AuditContext", "Base", "SqlAuditStore", "make_engine", "make_session_factory", "models",
    "new_id", "record", "session_scope", "utcnow", "verify_audit_chain",
]
