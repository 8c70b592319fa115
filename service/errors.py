"""Errors raised by the service (CLI, media I/O, keys, release path).

Every error derives from ``ServiceError`` and carries a stable ``code`` plus keyword context;
the CLI prints ``error [code]: message`` and the HTTP layer maps codes to statuses in one place::

    ServiceError
    ├── KeysError
    │   ├── PkiExists              a development PKI is already in the data directory
    │   ├── KeysMissing            no signing identity or watermark key configured
    │   ├── PepperInvalid          the API-key pepper (or an AES key) is malformed or too short
    │   ├── SealingKeyMismatch     the configured keys open none of the sealed values at hand
    │   │                          (or a value names a key that is not configured): the
    │   │                          deployment's key is wrong or missing, an operator's error (503)
    │   └── SealedValueUnreadable  one stored value does not open while the keys open its
    │       │                      neighbours, or the key that sealed it is configured: altered,
    │       │                      copied from another row, or not our stored form (409)
    │       └── SubjectReferenceUnreadable  such a value is a reference portrait's encoding
    │                              (``asset_ids``): the partner has the service re-derive it
    │                              (``POST /v1/subjects/{id}/references/{asset_id}/re-encode``)
    ├── VideoUnreadable            not a readable video (missing, empty, corrupt, no video stream)
    ├── OutputInvalid              the output path cannot receive a video
    ├── DatabaseNotReady           the database schema is missing or not migrated
    ├── RequestInvalid             an argument is malformed (unknown scope, past expiry, email)
    ├── NotFound                   no such organisation / user / API key
    ├── StateConflict              the transition is not allowed from the current state
    ├── StorageError               a blob key is malformed or the store failed
    │   └── BlobMissing            no blob under that key
    └── AuthError                  a credential or role check refused the caller
        ├── ApiKeyInvalid          malformed, unknown, or wrong secret (one code: no oracle)
        │   └── ApiKeyUnrecognised malformed or unknown (same code; not audited by the key)
        ├── ApiKeyExpired          the key's expiry has passed
        ├── ApiKeyRevoked          the key was revoked
        ├── ScopeMissing           the key lacks a scope the operation needs
        ├── OrganisationNotVetted  a live key of an organisation not (yet) vetted
        ├── OrganisationSuspended  the organisation is suspended: all its credentials are off
        └── RoleMissing            the user lacks the role (operator, partner...) required

The partner HTTP API (``service.api``, ``service.domain``) adds::

    ServiceError
    ├── UploadError                an upload is refused (the claimed MIME type is never trusted)
    │   ├── UploadEmpty            no bytes
    │   ├── UploadTooLarge         over the size limit for its kind (or the whole request)
    │   ├── UploadTypeUnsupported  the real format (magic bytes) is not one the kind accepts
    │   ├── UploadCorrupt          the right format, but it does not decode
    │   └── ImageTooManyPixels     the header declares more pixels than allowed (a bomb)
    ├── RequestInvalid
    │   └── PurposeUnknown         a purpose outside the configured vocabulary
    ├── RateLimited                the caller's window is used up (429, Retry-After)
    ├── DependencyUnavailable      Redis (or another backing service) cannot be reached
    └── AuthError
        ├── CredentialsMissing     no API key or bearer token on the request
        ├── TokenInvalid           a bearer JWT that is malformed or wrongly signed
        └── TokenExpired           a bearer JWT past its expiry

Generation jobs and their workers (``service.jobs``) add::

    ServiceError
    ├── StateConflict
    │   ├── IdempotencyKeyReused   the key was first used with a different request (Stripe)
    │   ├── JobNotFinished         the job's video was asked for before the job succeeded
    │   └── ArtifactPurged         the job's video was deleted (retention or erasure; 410);
    │                              its provenance-registry record remains
    ├── RateLimited
    │   └── QuotaExceeded          the organisation's monthly job quota is used up (429)
    ├── ConsentRefused             the consent gate refused the job (``reason``: the gate's code)
    ├── BrokerUnavailable          the task queue cannot be reached (the outbox sends later)
    ├── JobAborted                 a running job stopped: cancelled, or its lease was lost
    └── ReleaseUnverified          a rendered file failed its own check (mark or manifest)

Webhooks, verification and misuse reports (``service.webhooks``, ``service.domain``) add::

    ServiceError
    ├── RequestInvalid
    │   └── WebhookUrlRefused      not an allowed public http(s) destination (the SSRF guard;
    │                              ``reason``: malformed, scheme, userinfo, port, unresolvable,
    │                              address)
    └── WebhookSignatureInvalid    a receiver's check of a delivery failed (bad or stale signature)

Officers' access to the audit log (``service.audit``) adds::

    ServiceError
    └── StateConflict
        └── PersonalDataErased     the person's audit key was destroyed: nothing personal may be
                                   sealed under it again

The audit log's sequencer, checkpoints and proofs (``service.audit``) add::

    ServiceError
    ├── AuditLogError
    │   ├── AuditSequencingFailed  the sequencer cannot chain the inbox or build the tree
    │   │                          (a malformed inbox row, a missing event): it needs a person
    │   └── AuditCheckpointConflict  the tree does not reproduce an exported checkpoint
    │                              (rolled back or rewritten): no new checkpoint is signed
    └── NotFound
        └── AuditCheckpointMissing  no checkpoint (yet) to prove against, or no such event

Consent requests and the live capture page (``service.domain.consent_requests``) add::

    ServiceError
    ├── NotFound
    │   └── CaptureLinkInvalid     no consent request behind this capture link
    ├── StateConflict
    │   ├── ChallengeExpired       the challenge phrase's time is up (410): ask for a new request
    │   ├── ChallengeUsed          the challenge already received its recording (single use)
    │   └── CaptureNotStarted      a recording uploaded before the page started recording
    └── UploadError
        └── RecordingInvalid       a consent recording is not usable evidence
            ├── RecordingTooShort  shorter than the configured minimum
            ├── RecordingTooLong   longer than the configured maximum (absurd durations too)
            └── RecordingStreamMissing  no video or no audio stream

Transcripts, the subject's page, revocation and erasure (``service.domain``) add::

    ServiceError
    ├── TranscriptError
    │   ├── TranscriptMismatch     the job's audio does not say its declared transcript
    │   ├── TranscriptReviewRequired  the transcript's language is one the aligner cannot check:
    │   │                          an officer must review it (the operator's CLI refuses it)
    │   └── TranscriptMissing      a job from before transcripts were required has none
    └── NotFound
        └── SubjectLinkUnknown     no subject page behind this link (or it was disabled)

Officers' reviews of job portraits in the capture band (``service.domain.portrait_reviews``)
add::

    ServiceError
    └── StateConflict
        ├── PortraitReviewDecided  the review was already accepted, rejected or voided
        └── PortraitReviewLapsed   nothing left to accept: the consent it was filed under no
                                   longer stands, or the portrait's encoding is gone or changed

Re-encoding a reference portrait from the stored photo (``service.domain.references``) adds::

    ServiceError
    └── StateConflict
        ├── ReferencePortraitGone  the service no longer holds the photo's bytes (purged, erased
        │                          or missing; 410): register a new subject with a fresh photo
        └── ReferencePortraitAltered  the stored bytes no longer hash to the SHA-256 recorded at
                                   upload: nothing is derived from them (logged for operators)
"""

from __future__ import annotations

from typing import Any

from model.errors import CodedError


class ServiceError(CodedError):
    """Base of every service error. ``code`` is stable; ``context`` holds the details."""

    code = "service_error"


class KeysError(ServiceError):
    code = "keys_error"


class PkiExists(KeysError):
    code = "pki_exists"


class KeysMissing(KeysError):
    code = "keys_missing"


class SealingKeyMismatch(KeysError):
    code = "sealing_key_mismatch"


class SealedValueUnreadable(KeysError):
    """``undetermined``: the value names no key (a version-1 envelope) and no configured key
    opens it, so a wrong key explains it as well as an altered row; callers that hold the
    value's neighbours decide which (``SealingKeyMismatch`` when the keys open none)."""

    code = "sealed_value_unreadable"

    def __init__(self, message: str, *, undetermined: bool = False, **context: Any) -> None:
        super().__init__(message, **context)
        self.undetermined = undetermined


class SubjectReferenceUnreadable(SealedValueUnreadable):
    code = "subject_reference_unreadable"


class VideoUnreadable(ServiceError):
    code = "video_unreadable"


class OutputInvalid(ServiceError):
    code = "output_invalid"


# -- persistence and partner auth (service.db, service.auth) -----------------------------------


class DatabaseNotReady(ServiceError):
    code = "database_not_ready"


class PepperInvalid(KeysError):
    code = "pepper_invalid"


class RequestInvalid(ServiceError):
    code = "request_invalid"


class NotFound(ServiceError):
    code = "not_found"


class StateConflict(ServiceError):
    code = "state_conflict"


class StorageError(ServiceError):
    code = "storage_error"


class BlobMissing(StorageError):
    code = "blob_missing"


class AuthError(ServiceError):
    code = "auth_error"


class ApiKeyInvalid(AuthError):
    code = "api_key_invalid"


class ApiKeyUnrecognised(ApiKeyInvalid):
    """Malformed or unknown: the same code as a wrong secret (no oracle), not yet audited."""

    code = "api_key_invalid"


class ApiKeyExpired(AuthError):
    code = "api_key_expired"


class ApiKeyRevoked(AuthError):
    code = "api_key_revoked"


class ScopeMissing(AuthError):
    code = "scope_missing"


class OrganisationNotVetted(AuthError):
    code = "organisation_not_vetted"


class OrganisationSuspended(AuthError):
    code = "organisation_suspended"


class RoleMissing(AuthError):
    code = "role_missing"


# -- partner HTTP API (service.api, service.domain) --------------------------------------------


class UploadError(ServiceError):
    code = "upload_invalid"


class UploadEmpty(UploadError):
    code = "upload_empty"


class UploadTooLarge(UploadError):
    code = "upload_too_large"


class UploadTypeUnsupported(UploadError):
    code = "upload_type_unsupported"


class UploadCorrupt(UploadError):
    code = "upload_corrupt"


class ImageTooManyPixels(UploadError):
    code = "image_too_many_pixels"


class PurposeUnknown(RequestInvalid):
    code = "purpose_unknown"


class RateLimited(ServiceError):
    code = "rate_limited"


class DependencyUnavailable(ServiceError):
    code = "dependency_unavailable"


class CredentialsMissing(AuthError):
    code = "credentials_missing"


class TokenInvalid(AuthError):
    code = "token_invalid"


class TokenExpired(AuthError):
    code = "token_expired"


# -- generation jobs and workers (service.jobs) ------------------------------------------------


class IdempotencyKeyReused(StateConflict):
    code = "idempotency_key_reused"


class ConsentRefused(ServiceError):
    code = "consent_refused"


class BrokerUnavailable(ServiceError):
    code = "broker_unavailable"


class JobAborted(ServiceError):
    code = "job_aborted"


class ReleaseUnverified(ServiceError):
    code = "release_unverified"


class JobNotFinished(StateConflict):
    code = "job_not_finished"


class QuotaExceeded(RateLimited):
    code = "quota_exceeded"


class ArtifactPurged(StateConflict):
    code = "artifact_purged"


# -- webhooks, verification and misuse reports (service.webhooks, service.domain) ---------


class WebhookUrlRefused(RequestInvalid):
    code = "webhook_url_refused"


class WebhookSignatureInvalid(ServiceError):
    code = "webhook_signature_invalid"


# -- officers' access to the audit log (service.audit) -----------------------------------------


class PersonalDataErased(StateConflict):
    code = "personal_data_erased"


# -- consent requests and live capture (service.domain.consent_requests) ------------------------


class CaptureLinkInvalid(NotFound):
    code = "capture_link_invalid"


class ChallengeExpired(StateConflict):
    code = "challenge_expired"


class ChallengeUsed(StateConflict):
    code = "challenge_used"


class CaptureNotStarted(StateConflict):
    code = "capture_not_started"


class RecordingInvalid(UploadError):
    code = "recording_invalid"


class RecordingTooShort(RecordingInvalid):
    code = "recording_too_short"


class RecordingTooLong(RecordingInvalid):
    code = "recording_too_long"


class RecordingStreamMissing(RecordingInvalid):
    code = "recording_stream_missing"


# -- the audit log's sequencer, checkpoints and proofs (service.audit) ---------------------------


class AuditLogError(ServiceError):
    code = "audit_log_error"


class AuditSequencingFailed(AuditLogError):
    code = "audit_sequencing_failed"


class AuditCheckpointConflict(AuditLogError):
    code = "audit_checkpoint_conflict"


class AuditCheckpointMissing(NotFound):
    code = "audit_checkpoint_missing"


# -- transcripts, the subject's page, revocation, erasure (service.domain) ----------------------


class TranscriptError(ServiceError):
    code = "transcript_error"


class TranscriptMismatch(TranscriptError):
    code = "transcript_mismatch"


class TranscriptReviewRequired(TranscriptError):
    code = "transcript_review_required"


class TranscriptMissing(TranscriptError):
    code = "transcript_missing"


class SubjectLinkUnknown(NotFound):
    code = "not_found"  # the same answer as any unknown page: a link's existence is not told


# -- officers' reviews of job portraits (service.domain.portrait_reviews) -------------------


class PortraitReviewDecided(StateConflict):
    code = "portrait_review_decided"


class PortraitReviewLapsed(StateConflict):
    code = "portrait_review_lapsed"


# -- re-encoding a reference portrait (service.domain.references) ------------------------------


class ReferencePortraitGone(StateConflict):
    code = "reference_portrait_gone"


class ReferencePortraitAltered(StateConflict):
    code = "reference_portrait_altered"
