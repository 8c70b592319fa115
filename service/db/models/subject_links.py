"""The subject's private link: one per consent, issued when the consent is granted.

The link is ``/s/<token>``: whoever holds it sees the videos made under the consent and may
revoke it, with no account. Only the token's SHA-256 is stored (a database dump yields no
usable link); the token itself is shown once, to whoever hands it to the subject. Re-issuing
rotates the hash, so a lost or leaked link stops working at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base
from service.db.types import new_id, utcnow


class SubjectLink(Base):
    __tablename__ = "subject_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    consent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consents.id"), unique=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    # SHA-256 (hex) of the 32-byte random token; the token has full entropy, so no salt.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    # Set by erasure: the page is gone with the subject's data.
    disabled_at: Mapped[datetime | None]
