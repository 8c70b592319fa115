"""Who may use the service: organisations, the people acting for them, their API keys.

A partner organisation starts ``pending``; an operator vets it (after it accepted the acceptable
use policy) or suspends it. Roles are grants: ``partner`` is scoped to one organisation, the
platform roles (compliance officer, verifier, operator) have no organisation. An API key
belongs to an organisation; only its keyed hash is stored (``service.auth.api_keys``).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.base import Base
from service.db.types import new_id, str_enum, utcnow


class OrganisationStatus(enum.StrEnum):
    PENDING = "pending"
    VETTED = "vetted"
    SUSPENDED = "suspended"


class Role(enum.StrEnum):
    PARTNER = "partner"  # acts for one organisation
    COMPLIANCE_OFFICER = "compliance_officer"  # reviews subjects' consent
    VERIFIER = "verifier"  # checks released media against the provenance registry
    OPERATOR = "operator"  # vets and suspends organisations


PLATFORM_ROLES = frozenset({Role.COMPLIANCE_OFFICER, Role.VERIFIER, Role.OPERATOR})


class KeyEnvironment(enum.StrEnum):
    LIVE = "live"  # real jobs; organisation must be vetted
    TEST = "test"  # test-mode jobs (marked is_test everywhere); allowed while pending


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]

    grants: Mapped[list[RoleGrant]] = relationship(back_populates="user",
                                                   foreign_keys="RoleGrant.user_id")


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[OrganisationStatus] = mapped_column(
        str_enum(OrganisationStatus, "organisation_status"), default=OrganisationStatus.PENDING)
    declared_use_case: Mapped[str] = mapped_column(Text)
    aup_version: Mapped[str | None] = mapped_column(String(40))
    aup_accepted_at: Mapped[datetime | None]
    aup_accepted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    vetted_at: Mapped[datetime | None]
    vetted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    suspended_at: Mapped[datetime | None]
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "organisation_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    # Set for ``partner`` only; NULL for the platform roles.
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"),
                                                              index=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(back_populates="grants", foreign_keys=[user_id])


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Public part of the token (``lk_live_<key_id>_<secret>``): safe to log and show.
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    environment: Mapped[KeyEnvironment] = mapped_column(str_enum(KeyEnvironment, "environment"))
    # HMAC-SHA256(pepper, token): the secret itself is shown once and never stored.
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]]
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
