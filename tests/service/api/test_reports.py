"""``/v1/reports``: anyone reports a video (by asset id, or by uploading it: verified, the
asset id its watermark names is used, the file kept for the officer); officers list, read,
download and resolve reports; everyone else is refused."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.db.models import AuditEventRow
from service.keys import init_development_keys, watermark_key
from tests.service.api.conftest import World, error_code
from tests.service.api.registry_support import marked_video, random_asset_id, registered_artifact


def report(world: World, headers: dict[str, str] | None = None, *, video: bytes | None = None,
           **form: str):
    fields = {"category": "no_consent", "description": "That is me; I never agreed."} | form
    files = None if video is None else {"file": ("seen-online.mp4", video, "video/mp4")}
    return world.client.post("/v1/reports", headers=headers or {}, data=fields, files=files)


def test_anyone_reports_by_asset_id_and_an_officer_resolves(api: World) -> None:
    asset_id = f"{random_asset_id():014x}"
    registered = registered_artifact(api.engine, api.org_id, asset_id, "ab" * 32)
    filed = report(api, asset_id=asset_id.upper(), contact="me@example.org")
    assert filed.status_code == 201, filed.text
    receipt = filed.json()
    assert receipt["asset_id"] == asset_id and receipt["issued_by_this_service"] is True
    assert receipt["status"] == "open" and "contact" not in receipt
    unknown = report(api, asset_id="00000000000000").json()
    assert unknown["issued_by_this_service"] is False

    assert report(api, api.headers(), asset_id=asset_id).status_code == 201  # partners too
    for headers in ({}, api.headers()):  # the queue is for officers only
        assert api.client.get("/v1/reports", headers=headers).status_code in (401, 403)
    queue = api.client.get("/v1/reports", headers=api.officer(),
                           params={"status": "open", "limit": 200}).json()["items"]
    mine = next(item for item in queue if item["id"] == receipt["id"])
    assert mine["contact"] == "me@example.org" and mine["reporter"] == "anonymous"
    assert mine["artifact_id"] is not None and mine["has_video"] is False
    assert registered.asset_id == mine["asset_id"]

    resolved = api.client.post(f"/v1/reports/{receipt['id']}/resolve", headers=api.officer(),
                               json={"outcome": "actioned", "note": "consent revoked"})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_by_id"] == str(api.officer_id)
    again = api.client.post(f"/v1/reports/{receipt['id']}/resolve", headers=api.officer(),
                            json={"outcome": "no_action", "note": "twice"})
    assert again.status_code == 409
    sequence_pending(api.engine)
    with Session(api.engine) as session:
        actions = list(session.scalars(select(AuditEventRow.action).where(
            AuditEventRow.resource == f"misuse_report:{receipt['id']}")
            .order_by(AuditEventRow.seq)))
    assert actions == ["public:report:file", "compliance:report:resolve"]


def test_an_uploaded_video_is_verified_and_kept_for_the_officer(api: World,
                                                               tmp_path: Path) -> None:
    init_development_keys(api.settings)
    asset = random_asset_id()
    video = marked_video(tmp_path / "copy.mp4", watermark_key(api.settings), asset).read_bytes()
    registered_artifact(api.engine, api.org_id, f"{asset:014x}", "cd" * 32)
    receipt = report(api, video=video, category="impersonation").json()
    assert receipt["asset_id"] == f"{asset:014x}" and receipt["issued_by_this_service"] is True
    detail = api.client.get(f"/v1/reports/{receipt['id']}", headers=api.officer()).json()
    assert detail["has_video"] and detail["verdict_code"] == "watermark_only"
    evidence = api.client.get(f"/v1/reports/{receipt['id']}/video", headers=api.officer())
    assert evidence.status_code == 200 and evidence.content == video


def test_bad_reports_are_refused(api: World) -> None:
    init_development_keys(api.settings)
    assert error_code(report(api)) == "request_invalid"  # neither asset id nor video
    assert error_code(report(api, asset_id="not-hex")) == "request_invalid"
    assert error_code(report(api, asset_id="00000000000000", category="gossip")) \
        == "request_invalid"
    assert error_code(report(api, asset_id="00000000000000", description=" ")) \
        == "request_invalid"
    assert error_code(report(api, video=b"not a video at all")) == "video_unreadable"
