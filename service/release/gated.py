"""The operator's local ``likeness generate`` passes the same gate as partner jobs.

Before any model work the portrait is checked against the subject's approved consent (purpose,
expiry, revocation, face match to the references — ``policy/consent/gate.py``); afterwards the
released file is entered in the provenance registry. A refusal is audited and nothing is made;
if the registry cannot record the file, the file is deleted: no artifact exists unregistered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from model.errors import ImageUnreadable
from model.face.identity import face_descriptor
from model.face.portrait import analyse_portrait
from policy.audit import Outcome
from policy.errors import PolicyError
from service.db import make_engine
from service.db.audit import AuditContext, record
from service.db.engine import make_session_factory, session_scope
from service.db.models import Consent, Organisation, Subject
from service.db.types import utcnow
from service.domain.gate import check_consent
from service.domain.registry import register_artifact
from service import keys
from service.errors import DatabaseNotReady, NotFound
from service.media.image import load_image
from service.release.generate import GenerationRequest, ReleasedVideo, ReleasePath
from service.settings import Settings


@dataclass(frozen=True)
class ConsentedUse:
    """Whose likeness, for what: the subject's id and the purpose the video serves."""

    subject_id: uuid.UUID
    purpose: str


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
                                     threshold=self.settings.face_match_threshold)
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
        video = self.release_factory(self.settings).generate(request, progress)
        try:
            with self._session() as session:
                register_artifact(
                    session, video.asset_id, video.sha256,
                    organisation=session.get(Organisation, authorised.organisation_id),
                    subject=session.get(Subject, authorised.subject_id),
                    consent=session.get(Consent, authorised.consent_id),
                    created_by=self.context)
        except BaseException:
            video.path.unlink(missing_ok=True)  # never an artifact the registry does not know
            raise
        return video


def _portrait_encoding(path: Path):
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageUnreadable(f"cannot read {path}: {exc.strerror}", reason="not_found",
                              path=str(path)) from exc
    portrait = analyse_portrait(load_image(data))
    return face_descriptor(portrait.image, portrait.landmarks)
