"""Errors raised by the policy library.

Every error derives from ``PolicyError`` and carries a stable ``code`` (snake_case, used by the
service's HTTP mapping and by the CLI) plus keyword context::

    PolicyError
    ├── WatermarkError
    │   ├── WatermarkKeyInvalid    the operator's watermark secret is missing or malformed
    │   ├── PayloadOutOfRange      asset id or version does not fit the payload's bit budget
    │   └── FrameInvalid           a frame is not an (H, W, 3) uint8 RGB array of usable size
    └── ProvenanceError
        ├── SigningKeyInvalid      certificate chain or private key unreadable, mismatched or
        │                          expired, or unusable for C2PA (EKU, key type)
        ├── SigningFailed          the C2PA SDK (or a KMS/HSM signing callback) refused to sign
        ├── ClaimInvalid           a provenance claim field is malformed (asset id, hash, payload)
        ├── TrustAnchorsInvalid    the reader's trust anchors are not PEM certificates
        ├── MediaUnreadable        missing, unreadable, empty or truncated file
        └── MediaUnsupported       readable, but not an MP4 (ISO BMFF) C2PA signing/reading handles
"""

from __future__ import annotations

from model.errors import CodedError


class PolicyError(CodedError):
    """Base of every policy error. ``code`` is stable; ``context`` holds the measured values."""

    code = "policy_error"


# -- watermark ---------------------------------------------------------------------------------


class WatermarkError(PolicyError):
    code = "watermark_error"


class WatermarkKeyInvalid(WatermarkError):
    code = "watermark_key_invalid"


class PayloadOutOfRange(WatermarkError):
    code = "watermark_payload_out_of_range"


class FrameInvalid(WatermarkError):
    code = "frame_invalid"


# -- provenance (C2PA) -------------------------------------------------------------------------


class ProvenanceError(PolicyError):
    code = "provenance_error"


class SigningKeyInvalid(ProvenanceError):
    code = "signing_key_invalid"


class SigningFailed(ProvenanceError):
    code = "signing_failed"


class ClaimInvalid(ProvenanceError):
    code = "provenance_claim_invalid"


class TrustAnchorsInvalid(ProvenanceError):
    code = "trust_anchors_invalid"


class MediaUnreadable(ProvenanceError):
    code = "media_unreadable"


class MediaUnsupported(ProvenanceError):
    code = "media_unsupported"


# -- audit chain -------------------------------------------------------------------------------
#
#   PolicyError
#   └── AuditError
#       ├── AuditEventInvalid      an event field is malformed (action not source:subject:action,
#       │                          naive time, payload not canonical JSON)
#       └── AuditChainBroken       a stored chain does not verify (gap, relinked or altered event)


class AuditError(PolicyError):
    code = "audit_error"


class AuditEventInvalid(AuditError):
    code = "audit_event_invalid"


class AuditChainBroken(AuditError):
    code = "audit_chain_broken"


# -- consent -----------------------------------------------------------------------------------
#
#   PolicyError
#   └── ConsentError               the consent gate refuses (``policy.consent.gate``)
#       ├── ConsentMissing         no consent of the subject for this partner
#       ├── ConsentPending         requested, not yet reviewed by a compliance officer
#       ├── ConsentRejected        the officer rejected it
#       ├── ConsentExpired         approved, but its expiry has passed
#       ├── ConsentRevoked         approved, then revoked
#       ├── PurposeNotCovered      approved for other purposes only
#       ├── PartnerNotCovered      approved for another partner only
#       └── FaceMismatch           the portrait is not the subject (identity distance above the
#                                  threshold), or the subject's reference portraits disagree


class ConsentError(PolicyError):
    code = "consent_refused"


class ConsentMissing(ConsentError):
    code = "consent_missing"


class ConsentPending(ConsentError):
    code = "consent_pending"


class ConsentRejected(ConsentError):
    code = "consent_rejected"


class ConsentExpired(ConsentError):
    code = "consent_expired"


class ConsentRevoked(ConsentError):
    code = "consent_revoked"


class PurposeNotCovered(ConsentError):
    code = "purpose_not_covered"


class PartnerNotCovered(ConsentError):
    code = "partner_not_covered"


class FaceMismatch(ConsentError):
    code = "face_mismatch"
