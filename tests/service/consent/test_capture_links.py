"""Capture links are bearer secrets: an unknown one reads nothing, its calls say so precisely,
and the page's own files come only from the allow-list."""

from __future__ import annotations

import secrets

from tests.service.api.conftest import World, error_code


def test_an_unknown_link_is_refused_everywhere(api: World) -> None:
    token = secrets.token_urlsafe(32)
    page = api.client.get(f"/capture/{token}")
    assert page.status_code == 404 and "capture_link_invalid" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    start = api.client.post(f"/capture/{token}/start")
    assert start.status_code == 404 and error_code(start) == "capture_link_invalid"
    status = api.client.get(f"/capture/{token}/status")
    assert status.status_code == 404 and error_code(status) == "capture_link_invalid"
    upload = api.client.post(f"/capture/{token}/recording", data={"timeline": "{}"},
                             files={"recording": ("c.webm", b"\x1a\x45\xdf\xa3", "video/webm")})
    assert upload.status_code == 404 and error_code(upload) == "capture_link_invalid"


def test_the_page_assets_are_served_from_the_allow_list(api: World) -> None:
    script = api.client.get("/capture/assets/capture.js")
    assert script.status_code == 200 and "getUserMedia" in script.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert api.client.get("/capture/assets/capture.css").status_code == 200
    for name in ("capture.html", "..%2Fcapture.html", "nothing.js"):
        assert api.client.get(f"/capture/assets/{name}").status_code == 404
