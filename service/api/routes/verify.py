"""``POST /v1/verify``: anyone uploads a video and learns whether this service made it.

The answer is the release path's ``likeness.verify/1`` document (C2PA manifest, watermark,
verdict; see docs/verify.md) plus a ``registry`` block when the asset id the file names - or,
failing that, its exact SHA-256 - is in the provenance registry (``null`` otherwise):

- everyone: issued by likeness, the asset id, when it was made, test or live, whether the
  consent behind it still stands now (active / revoked / expired / none, with the date it was
  revoked - also appended to the verdict: "... — consent revoked on 2026-11-25"), whether
  the uploaded bytes are the original file, and when the service deleted its own copy of the
  video (``file_purged_at``: artifact retention or erasure; the record itself stays);
- verifiers and compliance officers also get the partner organisation, the subject, the
  consent id and the job id - each such disclosure is an audit event.

Anonymous callers have a low per-IP limit; a credential, if sent, must be valid.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel

from service.api.deps import ServicesDep, SessionDep
from service.api.public import CallerDep, spool_upload, upload_name, verify_file
from service.audit.events import record_verification
from service.domain.registry import (
    ConsentStanding,
    MatchedBy,
    RegistryRecord,
    annotate_verdict,
    lookup_artifact,
    record_disclosure,
)

router = APIRouter(prefix="/v1/verify", tags=["verify"])
ISSUER = "likeness"


class Party(BaseModel):
    id: uuid.UUID
    name: str


class RegistryPublic(BaseModel):
    issued_by: str
    asset_id: str
    matched_by: MatchedBy
    created_at: datetime
    environment: str  # "live" | "test"
    consent_status: ConsentStanding
    # When the consent was revoked (by the subject or an officer), and the same in words.
    consent_revoked_at: datetime | None = None
    consent_notice: str | None = None
    # The upload is byte for byte the registered file (not a re-encode or an edit).
    is_original_file: bool
    # When the service deleted its own copy of the video (retention, or the subject's
    # erasure): it no longer holds the file, but the record stands. None while it holds it.
    file_purged_at: datetime | None = None
    identities_disclosed: bool

    @classmethod
    def of(cls, found: RegistryRecord, sha256: str, disclosed: bool = False) -> RegistryPublic:
        artifact = found.artifact
        return cls(issued_by=ISSUER, asset_id=artifact.asset_id, matched_by=found.matched_by,
                   created_at=artifact.created_at,
                   environment="test" if artifact.is_test else "live",
                   consent_status=found.standing, consent_revoked_at=found.revoked_at,
                   consent_notice=found.notice, is_original_file=artifact.sha256 == sha256,
                   file_purged_at=artifact.purged_at, identities_disclosed=disclosed)


class RegistryDetail(RegistryPublic):
    organisation: Party | None
    subject: Party | None
    consent_id: uuid.UUID | None
    job_id: uuid.UUID | None

    @classmethod
    def of_record(cls, found: RegistryRecord, sha256: str) -> RegistryDetail:
        org, subject = found.organisation, found.subject
        return cls(**RegistryPublic.of(found, sha256, disclosed=True).model_dump(),
                   organisation=None if org is None else Party(id=org.id, name=org.name),
                   subject=None if subject is None
                   else Party(id=subject.id, name=subject.display_name),
                   consent_id=found.artifact.consent_id, job_id=found.artifact.job_id)


@router.post("")
def verify(session: SessionDep, services: ServicesDep, caller: CallerDep,
           file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """The verification document with its ``registry`` block (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="likeness-verify-") as directory:
        path = spool_upload(file, services.settings.max_verify_bytes, Path(directory))
        report = verify_file(services.settings, path)
    document = report.to_json()
    document["file"]["path"] = upload_name(file)  # never the server's temporary path
    found = lookup_artifact(session, asset_id=report.asset_id, sha256=report.file.sha256)
    registry: RegistryPublic | None = None
    if found is not None and caller.may_see_identities:
        record_disclosure(session, caller.audit, found)
        registry = RegistryDetail.of_record(found, report.file.sha256)
    elif found is not None:
        registry = RegistryPublic.of(found, report.file.sha256)
    document["registry"] = None if registry is None else registry.model_dump(mode="json")
    annotate_verdict(document, found)
    record_verification(session, caller.audit, "public:artifact:verify", document=document,
                        registered=found is not None)
    return document
