"""The subject's private link (PostgreSQL and SQLite): issued for an approved consent, stored
only as a hash, rotated on re-issue, and resolving to a page that lists every video made under
the consent with what the subject was made to say."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.db.models import Consent, ConsentStatus, JobState, SubjectLink
from service.domain.subject_links import (
    OPERATOR_RELEASE,
    issue_subject_link,
    open_subject_page,
    resolve_subject_link,
)
from service.errors import StateConflict, SubjectLinkUnknown
from tests.service.revocation.conftest import (
    NOW,
    TRANSCRIPT,
    add_artifact,
    add_job,
    events,
    make_scene,
)


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_the_link_is_stored_only_as_its_hash(db_session: Session, store, obama) -> None:
    scene = make_scene(db_session, store, obama)
    consent = db_session.get(Consent, scene.consent_id)
    url = issue_subject_link(db_session, consent, base_url="https://likeness.test/", now=NOW)
    token = _token(url)
    assert url == f"https://likeness.test/s/{token}" and len(token) == 43
    link = db_session.scalar(select(SubjectLink).where(SubjectLink.consent_id == consent.id))
    assert link.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    dump = db_session.execute(text("SELECT * FROM subject_links")).all()
    assert token not in repr(dump)
    issued = [e for e in events(db_session, f"subject_link:{link.id}")
              if e.action == "consent:subject_link:issue"]
    assert len(issued) == 1 and token not in repr(issued[0].payload)


def test_reissuing_rotates_the_token(db_session: Session, store, obama) -> None:
    scene = make_scene(db_session, store, obama)
    consent = db_session.get(Consent, scene.consent_id)
    first = _token(issue_subject_link(db_session, consent, now=NOW))
    second = _token(issue_subject_link(db_session, consent, now=NOW))
    assert first != second
    assert resolve_subject_link(db_session, second).consent_id == consent.id
    with pytest.raises(SubjectLinkUnknown):
        resolve_subject_link(db_session, first)


@pytest.mark.parametrize("token", ["", "short", "x" * 43 + "y", "../../etc/passwd" + "a" * 27,
                                   "A" * 43])
def test_unknown_or_malformed_tokens_are_not_found(db_session: Session, token: str) -> None:
    with pytest.raises(SubjectLinkUnknown) as unknown:
        resolve_subject_link(db_session, token)
    assert unknown.value.message == "no such page" and unknown.value.context == {}


def test_only_a_granted_consent_gets_a_link(db_session: Session, store, obama) -> None:
    scene = make_scene(db_session, store, obama)
    consent = db_session.get(Consent, scene.consent_id)
    consent.status = ConsentStatus.PENDING
    with pytest.raises(StateConflict):
        issue_subject_link(db_session, consent, now=NOW)


def test_the_page_lists_every_video_with_its_transcript(db_session: Session, store,
                                                        obama) -> None:
    scene = make_scene(db_session, store, obama, partner="Acme Dubbing")
    consent = db_session.get(Consent, scene.consent_id)
    token = _token(issue_subject_link(db_session, consent, now=NOW))
    done = add_job(db_session, scene, JobState.SUCCEEDED)
    artifact = add_artifact(db_session, scene, done, store)
    add_job(db_session, scene, JobState.QUEUED, transcript="Who will go with Bob and Pam?")
    operator = add_artifact(db_session, scene, None, store)

    page = open_subject_page(db_session, token, now=NOW)
    assert page.partner == "Acme Dubbing" and page.purposes == ("dubbing",)
    assert page.status == "approved" and page.revocable
    lines = {(v.state, v.transcript, v.asset_id) for v in page.videos}
    assert lines == {("succeeded", TRANSCRIPT, artifact.asset_id),
                     ("queued", "Who will go with Bob and Pam?", None),
                     ("succeeded", None, operator.asset_id)}
    assert {v.partner for v in page.videos} == {"Acme Dubbing", OPERATOR_RELEASE}
    link = resolve_subject_link(db_session, token)
    assert link.last_used_at == NOW
