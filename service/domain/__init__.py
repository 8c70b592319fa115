"""The partner service's domain operations, free of HTTP: uploads, subjects, consent review
and the consent gate over the database.

Each state-changing function takes the caller's ``Session`` and an ``AuditContext``, flushes,
appends its audit event in the same transaction and leaves the commit to the caller
(``session_scope`` or the API's request-scoped session).
"""

from service.domain.assets import Owner, get_asset, store_asset
from service.domain.consents import (
    approve_consent,
    get_consent,
    list_consents,
    reject_consent,
    revoke_consent,
)
from service.domain.gate import SqlConsentFacts, check_consent
from service.domain.subjects import SubjectRequest, get_subject, register_subject
from service.domain.uploads import (
    UploadLimits,
    ValidatedUpload,
    sniff_media_type,
    validate_audio,
    validate_evidence,
    validate_portrait,
)

__all__ = [
    "Owner", "SqlConsentFacts", "SubjectRequest", "UploadLimits", "ValidatedUpload",
    "approve_consent", "check_consent", "get_asset", "get_consent", "get_subject",
    "list_consents", "register_subject", "reject_consent", "revoke_consent", "sniff_media_type",
    "store_asset", "validate_audio", "validate_evidence", "validate_portrait",
]
