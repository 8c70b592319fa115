"""Errors raised by the service (CLI, media I/O, keys, release path).

Every error derives from ``ServiceError`` and carries a stable ``code`` plus keyword context;
the CLI prints ``error [code]: message`` and the HTTP layer maps codes to statuses in one place::

    ServiceError
    ├── KeysError
    │   ├── PkiExists              a development PKI is already in the data directory
    │   ├── KeysMissing            no signing identity or watermark key configured
    │   └── PepperInvalid          the API-key pepper is malformed or too short
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
        ├── ApiKeyExpired          the key's expiry has passed
        ├── ApiKeyRevoked          the key was revoked
        ├── ScopeMissing           the key lacks a scope the operation needs
        ├── OrganisationNotVetted  a live key of an organisation not (yet) vetted
        ├── OrganisationSuspended  the organisation is suspended: all its credentials are off
        └── RoleMissing            the user lacks the role (operator, partner...) required
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every service error. ``code`` is stable; ``context`` holds the details."""

    code = "service_error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class KeysError(ServiceError):
    code = "keys_error"


class PkiExists(KeysError):
    code = "pki_exists"


class KeysMissing(KeysError):
    code = "keys_missing"


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
