"""``POST /v1/subjects/{id}/references/{asset_id}/re-encode`` against real PostgreSQL, Redis and
a private broker: the repair a 409 ``subject_reference_unreadable`` names. The service derives
the encoding again from its own copy of the photo, never from anything the partner sends, and
only from bytes that still hash to the SHA-256 recorded at upload."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.db.models import Asset, AuditEventRow, Consent, ConsentStatus
from service.domain import Owner
from service.domain.assets import new_asset_row
from service.domain.face_templates import TemplateBox
from service.storage import LocalBlobStore
from tests.service.api.conftest import (  # noqa: F401 (pg_engine, redis_prefix: fixtures)
    World,
    biden,
    error_code,
    pg_engine,
    redis_prefix,
)
from tests.service.api.test_jobs import (  # noqa: F401 (media: a fixture)
    NOW,
    Seeded,
    jobs_world,
    media,
    seed,
    submit,
)
from tests.service.jobs.conftest import PrivateRedis, private_redis  # noqa: F401 (a fixture)

REENCODED = "partner:subject:reencode_reference"


@pytest.fixture
def api(pg_engine: Engine, tmp_path: Path, redis_prefix: str,  # noqa: F811
        private_redis: PrivateRedis) -> Iterator[World]:  # noqa: F811
    world = jobs_world(pg_engine, tmp_path, redis_prefix, private_redis)
    with world.client:
        yield world


def with_broken_reference(world: World, media) -> tuple[Seeded, str]:  # noqa: F811
    """A seeded subject with a second reference (obama2) whose sealed encoding is the first
    reference's ciphertext: the key opens the first, so the second row is at fault."""
    seeded = seed(world, media)
    box = TemplateBox.from_settings(world.settings)
    with Session(world.engine) as session:
        second = new_asset_row(LocalBlobStore(world.settings.blob_root),
                               Owner(world.org_id, False), media["obama2"],
                               subject_id=uuid.UUID(seeded.subject_id), now=NOW,
                               is_reference=True, box=box)
        session.add(second)
        session.flush()
        first = session.scalars(select(Asset).where(
            Asset.subject_id == uuid.UUID(seeded.subject_id), Asset.id != second.id)).one()
        second.face_encoding = first.face_encoding
        second_id = str(second.id)
        session.commit()
    return seeded, second_id


def reencode(world: World, subject_id: str, asset_id: str, key: str | None = None):
    return world.client.post(f"/v1/subjects/{subject_id}/references/{asset_id}/re-encode",
                             headers=world.headers(key))


def sealed(world: World, asset_id: str) -> bytes | None:
    with Session(world.engine) as session:
        return session.get(Asset, uuid.UUID(asset_id)).face_encoding


def reencode_events(world: World, asset_id: str) -> list[AuditEventRow]:
    sequence_pending(world.engine)
    with Session(world.engine) as session:
        return list(session.scalars(select(AuditEventRow).where(
            AuditEventRow.resource == f"asset:{asset_id}", AuditEventRow.action == REENCODED)))


def blob_path(world: World, asset_id: str) -> Path:
    with Session(world.engine) as session:
        key = session.get(Asset, uuid.UUID(asset_id)).storage_key
    return LocalBlobStore(world.settings.blob_root).path_for(key)


def test_the_refusal_names_the_repair_and_the_repaired_job_is_accepted(api: World,
                                                                        media) -> None:  # noqa: F811
    seeded, broken = with_broken_reference(api, media)
    refused = submit(api, seeded.body())
    assert refused.status_code == 409 and error_code(refused) == "subject_reference_unreadable"
    repair = f"/v1/subjects/{seeded.subject_id}/references/{broken}/re-encode"
    assert repair in refused.json()["error"]["message"]

    repaired = api.client.post(repair, headers=api.headers())
    assert repaired.status_code == 200, repaired.text
    body = repaired.json()
    assert body["result"] == "re_encoded" and body["subject_id"] == seeded.subject_id
    assert body["asset"]["id"] == broken and body["asset"]["has_face_encoding"]
    box = TemplateBox.from_settings(api.settings)
    assert box.open_portrait(uuid.UUID(broken), api.org_id, sealed(api, broken)).shape == (128,)
    accepted = submit(api, seeded.body())
    assert accepted.status_code == 202, accepted.text

    (event,) = reencode_events(api, broken)  # the sha256 and the key, never the encoding
    assert event.actor.startswith("api_key:") and event.request_id
    assert event.payload["sha256"] == body["asset"]["sha256"]
    assert event.payload["key_id"] == box.key_id and event.payload["was"] == "unreadable"
    assert set(event.payload) == {"subject_id", "asset_id", "sha256", "key_id", "was", "is_test"}


def test_an_intact_reference_is_unchanged_and_only_its_owner_may_ask(api: World,
                                                                     media) -> None:  # noqa: F811
    seeded = seed(api, media)
    with Session(api.engine) as session:
        reference = str(session.scalars(select(Asset.id).where(
            Asset.subject_id == uuid.UUID(seeded.subject_id))).one())
    before = sealed(api, reference)
    for _ in range(2):  # idempotent
        response = reencode(api, seeded.subject_id, reference)
        assert response.status_code == 200 and response.json()["result"] == "unchanged"
    assert sealed(api, reference) == before and reencode_events(api, reference) == []

    for key in (api.other_key, api.test_key):  # another partner, or the sandbox: not found
        assert reencode(api, seeded.subject_id, reference, key).status_code == 404
    narrow = reencode(api, seeded.subject_id, reference, api.narrow_key)
    assert narrow.status_code == 403 and error_code(narrow) == "scope_missing"
    # The job portrait is the partner's own, but not a reference of this subject.
    assert reencode(api, seeded.subject_id, seeded.portrait_id).status_code == 404
    assert reencode(api, seeded.subject_id, str(uuid.uuid4())).status_code == 404


def test_a_photo_no_longer_held_is_gone_and_nothing_changes(api: World,
                                                            media) -> None:  # noqa: F811
    seeded, broken = with_broken_reference(api, media)
    before = sealed(api, broken)
    blob_path(api, broken).unlink()
    gone = reencode(api, seeded.subject_id, broken)
    assert gone.status_code == 410 and error_code(gone) == "reference_portrait_gone"
    assert "register a new subject with a fresh photo" in gone.json()["error"]["message"].lower()
    assert sealed(api, broken) == before and reencode_events(api, broken) == []
    assert submit(api, seeded.body()).status_code == 409  # still refused, still named
    with Session(api.engine) as session:  # retention or erasure marked it purged
        session.get(Asset, uuid.UUID(broken)).purged_at = NOW
        session.commit()
    purged = reencode(api, seeded.subject_id, broken)
    assert purged.status_code == 410 and error_code(purged) == "reference_portrait_gone"
    assert f"deleted on {NOW.date()}" in purged.json()["error"]["message"]


def test_stored_bytes_that_are_not_the_upload_are_refused_and_nothing_changes(
        api: World, media, caplog) -> None:  # noqa: F811
    seeded, broken = with_broken_reference(api, media)
    before, path = sealed(api, broken), blob_path(api, broken)
    path.chmod(0o600)
    path.write_bytes(biden())  # a valid portrait, of someone else: the hash must refuse it
    with caplog.at_level("ERROR"):
        altered = reencode(api, seeded.subject_id, broken)
    assert altered.status_code == 409, altered.text
    error = altered.json()["error"]
    assert error["code"] == "reference_portrait_altered"
    assert error["details"]["sha256"] in error["message"] and "nothing was changed" in \
        error["message"]
    assert any(broken in r.getMessage() for r in caplog.records)  # for operators
    assert sealed(api, broken) == before and reencode_events(api, broken) == []


def test_a_missing_encoding_is_restored_only_while_a_consent_needs_it(api: World,
                                                                      media) -> None:  # noqa: F811
    seeded, broken = with_broken_reference(api, media)
    with Session(api.engine) as session:  # e.g. migration 0010 dropped it (not yet sealed)
        session.get(Asset, uuid.UUID(broken)).face_encoding = None
        session.commit()
    restored = reencode(api, seeded.subject_id, broken)
    assert restored.status_code == 200 and restored.json()["result"] == "re_encoded"
    assert [e.payload["was"] for e in reencode_events(api, broken)] == ["missing"]

    with Session(api.engine) as session:  # the consent ended: encodings are deleted for good
        consent = session.get(Consent, uuid.UUID(seeded.consent_id))
        consent.status, consent.revoked_at = ConsentStatus.REVOKED, NOW
        session.get(Asset, uuid.UUID(broken)).face_encoding = None
        session.commit()
    ended = reencode(api, seeded.subject_id, broken)
    assert ended.status_code == 409 and error_code(ended) == "state_conflict"
    assert "consent-requests" in ended.json()["error"]["message"]
    assert sealed(api, broken) is None


def test_keys_that_open_no_reference_are_the_operators_error(api: World,
                                                             media) -> None:  # noqa: F811
    """Re-sealing under the current key would hide a wrong key: 503, nothing changed."""
    seeded = seed(api, media)
    with Session(api.engine) as session:
        reference = session.scalars(select(Asset).where(
            Asset.subject_id == uuid.UUID(seeded.subject_id))).one()
        encoding = TemplateBox.from_settings(api.settings).open_portrait(
            reference.id, reference.organisation_id, reference.face_encoding)
        reference.face_encoding = TemplateBox(b"r" * 32).seal_portrait(
            reference.id, reference.organisation_id, encoding)
        reference_id, before = str(reference.id), reference.face_encoding
        session.commit()
    response = reencode(api, seeded.subject_id, reference_id)
    assert response.status_code == 503 and error_code(response) == "sealing_key_mismatch"
    assert sealed(api, reference_id) == before and reencode_events(api, reference_id) == []
