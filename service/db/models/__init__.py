"""The tables, one module per domain; importing this package registers all of them."""

from service.db.models.audit import AuditChainHead, AuditEventRow
from service.db.models.consent import Consent, ConsentStatus, Subject
from service.db.models.jobs import Artifact, Asset, AssetKind, Job, JobState, OutboxEntry
from service.db.models.reports import MisuseReport, ReportCategory, ReportOutcome, ReportStatus
from service.db.models.tenancy import (
    PLATFORM_ROLES,
    ApiKey,
    KeyEnvironment,
    Organisation,
    OrganisationStatus,
    Role,
    RoleGrant,
    User,
)
from service.db.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint

__all__ = [
    "PLATFORM_ROLES", "ApiKey", "Artifact", "Asset", "AssetKind", "AuditChainHead",
    "AuditEventRow", "Consent", "ConsentStatus", "DeliveryStatus", "Job", "JobState",
    "KeyEnvironment", "MisuseReport", "Organisation", "OrganisationStatus", "OutboxEntry",
    "ReportCategory", "ReportOutcome", "ReportStatus", "Role", "RoleGrant", "Subject", "User",
    "WebhookDelivery", "WebhookEndpoint",
]
