"""The SSRF guard: refused URLs and addresses at registration, and the same check inside the
connection at delivery time, against a real socket on 127.0.0.1."""

from __future__ import annotations

import pytest

from service.errors import WebhookUrlRefused
from service.webhooks.delivery import WebhookClient
from service.webhooks.ssrf import UrlGuard
from tests.service.webhooks.receiver import running_receiver

PUBLIC_IP = "93.184.215.14"  # a public address as a literal: checked without any DNS


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1/hook", "address"),
    ("http://127.1.2.3:8080/hook", "address"),
    ("http://10.0.0.5/hook", "address"),
    ("http://192.168.1.1/hook", "address"),
    ("http://172.16.0.1/hook", "address"),
    ("http://169.254.169.254/latest/meta-data/", "address"),  # cloud metadata
    ("http://100.64.0.1/", "address"),  # carrier-grade NAT
    ("http://0.0.0.0/", "address"),
    ("http://224.0.0.1/", "address"),  # multicast
    ("http://[::1]/hook", "address"),
    ("http://[fd00:ec2::254]/", "address"),  # IPv6 ULA (a metadata address too)
    ("http://[fe80::1]/", "address"),
    ("http://[::ffff:127.0.0.1]/", "address"),  # IPv4-mapped loopback
    ("http://[2002:a00:1::1]/", "address"),  # 6to4 around 10.0.0.1
    ("http://localhost/hook", "address"),  # a name that resolves to loopback
    ("http://2130706433/", "address"),  # 127.0.0.1 as one decimal number
    ("ftp://example.com/hook", "scheme"),
    ("file:///etc/passwd", "scheme"),
    (f"https://user:pw@{PUBLIC_IP}/hook", "userinfo"),
    (f"https://{PUBLIC_IP}@127.0.0.1/hook", "userinfo"),
    (f"https://{PUBLIC_IP}:22/hook", "port"),
    (f"https://{PUBLIC_IP}/hook#frag", "malformed"),
    ("https:///no-host", "malformed"),
    ("https://bad host/", "malformed"),
    ("https://no-such-host.invalid/hook", "unresolvable"),
])
def test_registration_refuses(url: str, reason: str) -> None:
    with pytest.raises(WebhookUrlRefused) as refused:
        UrlGuard().check(url)
    assert refused.value.context["reason"] == reason


def test_public_addresses_and_allowed_networks_pass() -> None:
    assert UrlGuard().check(f"https://{PUBLIC_IP}/hook").port == 443
    assert UrlGuard().check(f"http://{PUBLIC_IP}:8080/hook").port == 8080
    assert UrlGuard().check("https://[2606:4700:4700::1111]/hook").host == "2606:4700:4700::1111"
    # An operator's allowed network passes on any port; its neighbours do not.
    guard = UrlGuard(allowed_networks=["127.0.0.1/32", "10.20.0.0/16"])
    assert guard.check("http://127.0.0.1:9999/hook").port == 9999
    assert guard.check("http://10.20.3.4:5000/").host == "10.20.3.4"
    with pytest.raises(WebhookUrlRefused):
        guard.check("http://10.21.0.1/")
    with pytest.raises(WebhookUrlRefused):
        guard.check("http://[::1]:9999/")


def test_the_connection_itself_is_guarded() -> None:
    """A URL that passed registration but now resolves inward (DNS rebinding) is refused when
    connecting: the client checks the address it is about to connect to."""
    with running_receiver() as receiver:
        with WebhookClient(UrlGuard(), timeout_seconds=5) as strict, \
                pytest.raises(WebhookUrlRefused) as refused:
            strict.post(receiver.url, {"content-type": "application/json"}, b"{}")
        assert refused.value.context["reason"] == "address"
        assert receiver.received == []  # no byte reached it
        allowed = UrlGuard(allowed_networks=["127.0.0.1/32"])
        with WebhookClient(allowed, timeout_seconds=5) as client:
            assert client.post(receiver.url, {"content-type": "application/json"}, b"{}") == 200
        assert [r.body for r in receiver.received] == [b"{}"]
