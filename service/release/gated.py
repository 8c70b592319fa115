"""The operator's local ``likeness generate`` passes the same gate as partner jobs.

Before any model work the portrait is checked against the subject's approved consent (purpose,
expiry, revocation, face match to the references — ``policy/consent/gate.py``); afterwards the
released file is entered in the provenance registry. A refusal is audited and nothing is made;
if the registry cannot record the file, the file is deleted: no artifact exists unregistered.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from model.errors import AudioCorrupt, ImageUnreadable
from model.face.identity import face_descriptor
from model.face.portrait import analyse_portrait
from policy.audit import Outcome
from policy.errors import PolicyError
from service.audit.events import record_signed
from service.db import make_engine
from service.db.audit import AuditContext, record
from service.db.engine import make_session_factory, session_scope
from service.db.models import Consent, Organisation, Subject
from service.db.types import utcnow
from service.domain.face_templates import TemplateBox
from service.domain.gate import check_consent
from service.domain.registry import register_artifact
from service.domain.transcripts import DeclaredTranscript, check_spoken, refuse_mismatch
from service import keys
from service.errors import (
    DatabaseNotReady,
    NotFound,
    TranscriptMissing,
    TranscriptReviewRequired,
)
from service.media.audio import load_audio
from service.media.image import load_image
from service.release.generate import GenerationRequest, ReleasedVideo, ReleasePath
from service.settings import Settings


@dataclass(frozen=True)
class ConsentedUse:
    """Whose likeness, for what, saying what: the subject's id, the purpose the video serves
    and the declared transcript of the speech (checked against the audio before rendering)."""

    subject_id: uuid.UUID
    purpose: str
    transcript: DeclaredTranscript | None = None  # required to generate; None is refused


@dataclass(frozen=True)
class Authorisation:
    organisation_id: uuid.UUID
    subject_id: uuid.UUID
    consent_id: uuid.UUID


class GatedRelease:
    """``ReleasePath.generate`` behind the consent gate, with registration of the result.

    Order of work, cheapest refusal first: keys present, consent gate, then the model loads."""

    def __init__(self, settings: Settings, context: AuditContext,
                 release_factory: Callable[[Settings], ReleasePath] = ReleasePath.from_settings
                 ) -> None:
        self.settings, self.context, self.release_factory = settings, context, release_factory

    @contextmanager
    def _session(self) -> Iterator[Session]:
        engine = make_engine(self.settings.database_url)
        try:
            with session_scope(make_session_factory(engine), commit_on=(PolicyError,)) as session:
                yield session
        except (OperationalError, ProgrammingError) as exc:
            raise DatabaseNotReady(f"the database at {engine.url.render_as_string()} is not "
                                   f"reachable or not migrated (run `likeness db upgrade`): "
                                   f"{exc.orig}", url=engine.url.render_as_string()) from exc
        finally:
            engine.dispose()

    def authorise(self, use: ConsentedUse, portrait: Path) -> Authorisation:
        """The gate, before any model work; a refusal is audited and raised (a PolicyError)."""
        encoding = _portrait_encoding(portrait)
        with self._session() as session:
            subject = session.get(Subject, use.subject_id)
            if subject is None:
                raise NotFound(f"no subject {use.subject_id}", resource="subject",
                               id=str(use.subject_id))
            decision = check_consent(session, organisation_id=subject.organisation_id,
                                     subject_id=subject.id, purpose=use.purpose,
                                     portrait_encoding=encoding, now=utcnow(),
                                     threshold=self.settings.face_match_threshold,
                                     templates=TemplateBox.from_settings(self.settings))
            record(session, self.context, "release:generate:gate", f"subject:{subject.id}",
                   outcome=Outcome.SUCCESS if decision.allowed else Outcome.DENIED,
                   payload={"purpose": use.purpose, "reason": decision.reason,
                            "consent_id": None if decision.consent_id is None
                            else str(decision.consent_id)})
            decision.raise_if_refused()  # committed first: the denial stays on record
            return Authorisation(subject.organisation_id, subject.id, decision.consent_id)

    def generate(self, request: GenerationRequest, use: ConsentedUse,
                 progress=None) -> ReleasedVideo:
        keys.signing_identity(self.settings), keys.watermark_key(self.settings)
        authorised = self.authorise(use, request.portrait)
        self.check_transcript(use, request.audio)
        video = self.release_factory(self.settings).generate(request, progress)
        try:
            with self._session() as session:
                register_artifact(
                    session, video.asset_id, video.sha256,
                    organisation=session.get(Organisation, authorised.organisation_id),
                    subject=session.get(Subject, authorised.subject_id),
                    consent=session.get(Consent, authorised.consent_id),
                    created_by=self.context)
                manifest = video.verification.manifest
                record_signed(session, self.context, asset_id=video.asset_id,
                              manifest_id=manifest.manifest_id, sha256=video.sha256,
                              job_id=None, inputs={"portrait": _sha256(request.portrait),
                                                   "audio": _sha256(request.audio),
                                                   "weights": manifest.weights_sha256})
        except BaseException:
            video.path.unlink(missing_ok=True)  # never an artifact the registry does not know
            raise
        return video


    def check_transcript(self, use: ConsentedUse, audio: Path) -> None:
        """The audio must say the declared transcript (forced alignment), before the model
        loads; the check is audited. The operator's tool has no officer queue: a language
        the aligner cannot check is refused (``transcript_review_required``)."""
        from model.audio.features import AudioLimits, extract_features

        declared = use.transcript
        if declared is None:
            raise TranscriptMissing("declare what the audio says: --transcript TEXT or "
                                    "--transcript-file PATH")
        if not declared.aligned:
            raise TranscriptReviewRequired(
                f"the aligner cannot check language {declared.language!r}; submit the job "
                "through the partner API, where a compliance officer reviews it",
                language=declared.language)
        limit = self.settings.max_audio_seconds
        samples, rate = load_audio(_read_audio(audio), max_seconds=limit)
        extract_features(samples, rate, AudioLimits(max_seconds=limit))  # the model's refusals
        check = check_spoken(samples, rate, declared.text, declared.language)
        with self._session() as session:
            record(session, self.context, "release:generate:transcript",
                   f"subject:{use.subject_id}",
                   outcome=Outcome.SUCCESS if check.matched else Outcome.DENIED,
                   payload={"transcript_sha256": declared.sha256,
                            "language": declared.language, "status": check.status,
                            "score": check.score, "reason": check.reason})
        if check.unsupported:
            raise TranscriptReviewRequired(f"{check.reason}; submit the job through the "
                                           "partner API, where a compliance officer reviews it",
                                           language=declared.language)
        refuse_mismatch(check, declared.sha256)


def _read_audio(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise AudioCorrupt(f"cannot read {path}: {exc.strerror}", reason="not_found",
                           path=str(path)) from exc


def _sha256(path: Path) -> str:
    with open(path, "rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def _portrait_encoding(path: Path):
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageUnreadable(f"cannot read {path}: {exc.strerror}", reason="not_found",
                              path=str(path)) from exc
    portrait = analyse_portrait(load_image(data))
    return face_descriptor(portrait.image, portrait.landmarks)
