"""POST /v1/assets validates uploads fully and answers precise 4xx codes; GET shows an asset
to its own organisation only."""

from __future__ import annotations

import struct
import uuid
import zlib

import numpy as np
import pytest
from sqlalchemy.orm import Session

from service.db.models import Asset
from service.domain import UploadLimits, validate_portrait
from service.domain.face_templates import TemplateBox

from tests.service.api.conftest import (
    World,
    biden,
    error_code,
    face,
    landscape,
    registered_subject,
    silence,
    speech,
    two_faces,
    upload,
)


def _png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header declaring 900 MP (the pixel data never needs to exist)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_portrait_upload_stores_blob_and_face_encoding(api: World) -> None:
    response = upload(api, face("obama.jpg"), content_type="application/octet-stream")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["kind"] == "portrait" and body["media_type"] == "image/jpeg"
    assert body["has_face_encoding"] and body["is_test"] is False
    assert response.headers["x-request-id"]
    again = api.client.get(f"/v1/assets/{body['id']}", headers=api.headers())
    assert again.status_code == 200 and again.json()["sha256"] == body["sha256"]
    # The same bytes again (a retry) are a second asset over the one content-addressed blob.
    second = upload(api, face("obama.jpg"))
    assert second.status_code == 201 and second.json()["id"] != body["id"]
    # Stored sealed under the deployment's face template key, bound to this asset row.
    plain = validate_portrait(face("obama.jpg"), UploadLimits.from_settings(api.settings)) \
        .face_encoding.astype("<f4").tobytes()
    with Session(api.engine) as session:
        row = session.get(Asset, uuid.UUID(body["id"]))
        stored = bytes(row.face_encoding)
        assert len(stored) == 545 and plain[:16] not in stored
        opened = TemplateBox.from_settings(api.settings).open_portrait(
            row.id, row.organisation_id, stored)
    assert np.array_equal(opened.astype("<f4").tobytes(), plain)


def test_audio_upload_measures_duration(api: World) -> None:
    response = upload(api, speech(3.0), "audio", filename="a.wav", content_type="audio/wav")
    assert response.status_code == 201, response.text
    assert response.json()["duration_seconds"] == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize(("make", "kind", "status", "code"), [
    (lambda: b"", "portrait", 400, "upload_empty"),
    (lambda: b"", "audio", 400, "upload_empty"),
    (lambda: b"\xff\xd8\xff" + b"\0" * 2_100_000, "portrait", 413, "upload_too_large"),
    (lambda: face("obama.jpg")[:2000], "portrait", 422, "upload_corrupt"),
    (lambda: b"GIF89a" + b"\0" * 100, "portrait", 415, "upload_type_unsupported"),
    (_png_bomb, "portrait", 422, "image_too_many_pixels"),
    (landscape, "portrait", 422, "no_face"),
    (two_faces, "portrait", 422, "multiple_faces"),
    (lambda: face("biden.jpg"), "portrait", 422, "face_too_small"),
    (silence, "audio", 422, "audio_silent"),
    (lambda: speech(None), "audio", 422, "audio_too_long"),
    (lambda: face("obama.jpg"), "audio", 415, "upload_type_unsupported"),
], ids=["empty-portrait", "empty-audio", "too-big", "truncated-jpeg", "gif", "bomb", "no-face",
        "two-faces", "small-face", "silent", "too-long", "jpeg-as-audio"])
def test_bad_uploads_get_precise_codes(api: World, make, kind: str, status: int,
                                       code: str | None) -> None:
    response = upload(api, make(), kind)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if code is not None:
        assert error["code"] == code
    assert error["message"] and error["request_id"] == response.headers["x-request-id"]


def test_png_claimed_as_audio_is_refused_by_its_content(api: World) -> None:
    png = _png_bomb(64, 64)
    response = upload(api, png, "audio", filename="speech.wav", content_type="audio/wav")
    assert response.status_code == 415
    assert response.json()["error"]["details"]["detected"] == "image/png"


def test_whole_request_over_the_cap_is_refused_before_parsing(api: World) -> None:
    response = upload(api, b"\0" * 21_000_000)
    assert response.status_code == 413 and error_code(response) == "upload_too_large"


def test_portrait_for_a_subject_must_match_its_face(api: World) -> None:
    subject = registered_subject(api, face("obama.jpg"))
    same = upload(api, face("obama2.jpg"), subject_id=subject["id"])
    assert same.status_code == 201 and same.json()["subject_id"] == subject["id"]
    assert same.json()["is_reference"] is False
    other = upload(api, biden(), subject_id=subject["id"])
    assert other.status_code == 422 and error_code(other) == "face_mismatch"
    details = other.json()["error"]["details"]
    assert details["distance"] > details["threshold"] == 0.5


def test_assets_are_private_to_their_organisation_and_environment(api: World) -> None:
    asset = upload(api, face("obama2.jpg")).json()
    for key in (api.other_key, api.test_key):
        response = api.client.get(f"/v1/assets/{asset['id']}", headers=api.headers(key))
        assert response.status_code == 404 and error_code(response) == "not_found"


def test_scope_and_credentials_are_checked(api: World) -> None:
    missing = api.client.get("/v1/assets/0190d1f0-0000-7000-8000-000000000000")
    assert missing.status_code == 401 and error_code(missing) == "credentials_missing"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = api.client.get("/v1/assets/0190d1f0-0000-7000-8000-000000000000",
                           headers={"X-Api-Key": api.partner_key[:-4] + "aaaa"})
    assert wrong.status_code == 401 and error_code(wrong) == "api_key_invalid"
    narrow = upload(api, face("obama.jpg"), "audio", key=api.narrow_key)
    assert narrow.status_code == 415  # assets:write is enough to upload
    response = api.client.post("/v1/subjects", headers=api.headers(api.narrow_key),
                               data={"display_name": "x"})
    assert response.status_code == 403 and error_code(response) == "scope_missing"
