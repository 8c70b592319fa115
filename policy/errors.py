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
#       ├── AuditChainBroken       a stored chain does not verify (gap, relinked or altered event)
#       ├── AuditTreeRangeInvalid  a Merkle tree request is out of range (leaf index >= size,
#       │                          old size > new size) or a frontier/hash is malformed
#       ├── AuditTreeNodeMissing   a perfect node the computation needs is not stored
#       ├── AuditProofInvalid      an inclusion or consistency proof does not verify
#       ├── AuditCheckpointInvalid a signed checkpoint note is malformed, unsigned by the
#       │                          known key, or its signature does not verify (``reason``)
#       ├── AuditKeyInvalid        a checkpoint signing or verifier key is malformed or unreadable
#       └── AuditBundleInvalid     an offline export bundle does not verify (``line``, ``reason``)


class AuditError(PolicyError):
    code = "audit_error"


class AuditEventInvalid(AuditError):
    code = "audit_event_invalid"


class AuditChainBroken(AuditError):
    code = "audit_chain_broken"


class AuditTreeRangeInvalid(AuditError):
    code = "audit_tree_range_invalid"


class AuditTreeNodeMissing(AuditError):
    code = "audit_tree_node_missing"


class AuditProofInvalid(AuditError):
    code = "audit_proof_invalid"


class AuditCheckpointInvalid(AuditError):
    code = "audit_checkpoint_invalid"


class AuditKeyInvalid(AuditError):
    code = "audit_key_invalid"


class AuditBundleInvalid(AuditError):
    code = "audit_bundle_invalid"


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
#       ├── ConsentExhausted       approved for a number of jobs (``max_jobs``), all used
#       ├── FaceMismatch           the portrait is not the subject (identity distance above the
#       │                          threshold), or the subject's reference portraits disagree
#       └── FaceMatchReview        the portrait is in the officer band of the subject's live
#                                  capture (``policy.consent.capture_match``): not decided alone


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


class ConsentExhausted(ConsentError):
    code = "consent_exhausted"


class PartnerNotCovered(ConsentError):
    code = "partner_not_covered"


class FaceMismatch(ConsentError):
    code = "face_mismatch"


class FaceMatchReview(ConsentError):
    code = "face_match_review"


# -- consent evidence (``policy.consent.evidence``) --------------------------------------------
#
#   PolicyError
#   └── EvidenceError
#       ├── EvidenceInvalid        decoded evidence is malformed or absurd (frame shape/dtype,
#       │                          timestamps, audio rate, duration); ``reason`` names which
#       ├── ChallengeInvalid       a stored challenge or prompt schedule does not parse, or the
#       │                          arguments to draw one are out of range
#       └── TranscriptInvalid      a declared transcript is empty, too long or not text


class EvidenceError(PolicyError):
    code = "evidence_error"


class EvidenceInvalid(EvidenceError):
    code = "evidence_invalid"


class ChallengeInvalid(EvidenceError):
    code = "challenge_invalid"


class TranscriptInvalid(EvidenceError):
    code = "transcript_invalid"
