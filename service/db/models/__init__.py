"""The tables, one module per domain; importing this package registers all of them."""

from service.db.models.audit import (
    AuditChainHead,
    AuditCheckpointRow,
    AuditEventRow,
    AuditPendingRow,
    AuditTreeNode,
)
from service.db.models.audit_access import AuditEventRef, AuditPersonalKey, AuditPrune
from service.db.models.consent import (
    Consent,
    ConsentBasis,
    ConsentStatus,
    NonlivingCategory,
    Subject,
)
from service.db.models.consent_requests import (
    ConsentCheckResult,
    ConsentRequest,
    ConsentRequestStatus,
    EvidenceSource,
    FaceTemplate,
)
from service.db.models.jobs import Artifact, Asset, AssetKind, Job, JobState, OutboxEntry
from service.db.models.portrait_reviews import PortraitReview, PortraitReviewStatus
from service.db.models.reports import MisuseReport, ReportCategory, ReportOutcome, ReportStatus
from service.db.models.subject_links import SubjectLink
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
    "AuditCheckpointRow", "AuditEventRef", "AuditEventRow", "AuditPendingRow",
    "AuditTreeNode", "AuditPersonalKey", "AuditPrune", "Consent", "ConsentBasis",
    "ConsentCheckResult", "ConsentRequest", "ConsentRequestStatus", "ConsentStatus",
    "EvidenceSource", "FaceTemplate", "NonlivingCategory",
    "DeliveryStatus", "Job", "JobState",
    "KeyEnvironment", "MisuseReport", "Organisation", "OrganisationStatus", "OutboxEntry",
    "PortraitReview", "PortraitReviewStatus",
    "ReportCategory", "ReportOutcome", "ReportStatus", "Role", "RoleGrant", "Subject",
    "SubjectLink", "User",
    "WebhookDelivery", "WebhookEndpoint",
]
