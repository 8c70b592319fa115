"""The server-side request forgery guard for webhook URLs.

A partner chooses the URL; the service's workers make the request from inside the
deployment's network. Without a guard a partner could point a webhook at the cloud metadata
service, a database admin page or anything else only the service can reach. So:

- at registration, the URL must be ``http(s)``, carry no userinfo or fragment, use an allowed
  port (80, 443, 8080, 8443 by default), and its host must resolve only to public unicast
  addresses - loopback, private (RFC 1918, IPv6 ULA ``fc00::/7``), link-local (which holds the
  ``169.254.169.254`` metadata service), CGNAT, multicast, reserved, unspecified and
  documentation ranges are refused, and IPv4 addresses embedded in IPv6 (mapped, 6to4,
  Teredo, NAT64) are judged by the IPv4 address inside;
- at delivery, the same check runs again *inside the connection*: ``GuardedBackend`` resolves
  the host, checks every address and connects to the checked address itself, so a DNS answer
  that changed since registration (DNS rebinding) cannot steer the request inward. TLS still
  verifies the certificate against the host name (httpcore passes it as the SNI name).

An operator may allow networks (``webhook_allowed_networks``: an internal relay, or tests'
loopback receiver); an address inside one passes on any port.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore

from service.errors import WebhookUrlRefused
from service.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_CHARS = 2048
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class Target:
    """A URL that passed the syntax checks: where a delivery would connect."""

    url: str
    scheme: str
    host: str  # without IPv6 brackets
    port: int


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): the client is where packets go
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, judged on the embedded IPv4 address where there is one."""
    inner = embedded_ipv4(address)
    return bool(inner.is_global and not inner.is_multicast and not inner.is_reserved
                and not inner.is_link_local and inner not in _CGNAT
                and address.is_global and not address.is_multicast)


class UrlGuard:
    """The checks, with the operator's allowed networks and ports."""

    def __init__(self, allowed_networks: Iterable[str] = (),
                 allowed_ports: Iterable[int] = (80, 443, 8080, 8443)) -> None:
        try:
            self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        except ValueError as exc:
            raise ValueError(f"webhook_allowed_networks: {exc}") from None
        self.ports = frozenset(allowed_ports)

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlGuard:
        return cls(settings.webhook_allowed_networks, settings.webhook_allowed_ports)

    def allowed(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks
                   if network.version == address.version)

    def parse(self, url: str) -> Target:
        """Syntax only: scheme, userinfo, fragment, host and port."""
        if len(url) > MAX_URL_CHARS or any(ch.isspace() or ord(ch) < 32 for ch in url):
            raise WebhookUrlRefused("the webhook URL is too long or contains whitespace",
                                    reason="malformed", url=url[:200])
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise WebhookUrlRefused("the webhook URL cannot be parsed", reason="malformed",
                                    url=url[:200]) from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise WebhookUrlRefused("webhook URLs must use https (or http)", reason="scheme",
                                    url=url)
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise WebhookUrlRefused("webhook URLs may not carry a user name or password",
                                    reason="userinfo", url=url)
        if parts.fragment or not parts.hostname:
            raise WebhookUrlRefused("a webhook URL needs a host and no fragment",
                                    reason="malformed", url=url)
        return Target(url, scheme, parts.hostname, port or (443 if scheme == "https" else 80))

    def check(self, url: str) -> Target:
        """Syntax, then every address the host resolves to (what registration runs)."""
        target = self.parse(url)
        self.resolve(target.host, target.port)
        return target

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The host's addresses, each checked; ``WebhookUrlRefused`` if any is not allowed."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise WebhookUrlRefused(f"the webhook host {host!r} does not resolve",
                                    reason="unresolvable", host=host) from None
        addresses = list(dict.fromkeys(
            ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
        for address in addresses:
            self._check_address(host, port, address)
        return addresses

    def _check_address(self, host: str, port: int, address: IPAddress) -> None:
        if self.allowed(address):
            return  # the operator's own networks: any port
        if not is_public(address):
            raise WebhookUrlRefused(f"the webhook host {host!r} resolves to {address}, which is "
                                    "not a public address", reason="address", host=host,
                                    address=str(address))
        if port not in self.ports:
            raise WebhookUrlRefused(f"port {port} is not allowed for webhooks (allowed: "
                                    f"{sorted(self.ports)})", reason="port", port=port)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the guard checked just now."""

    def __init__(self, guard: UrlGuard) -> None:
        self.guard = guard

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                    ) -> httpcore.NetworkStream:
        addresses = self.guard.resolve(host.strip("[]"), port)
        return self._first_reachable(addresses, port, timeout, local_address, socket_options)

    def _first_reachable(self, addresses: Sequence[IPAddress], port: int,
                         timeout: float | None, local_address: str | None,
                         socket_options: Iterable[httpcore.SOCKET_OPTION] | None
                         ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address,
                                           socket_options)
            except httpcore.ConnectError as exc:  # try the host's next address
                last = exc
        raise last or httpcore.ConnectError("no address to connect to")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                            ) -> httpcore.NetworkStream:
        raise WebhookUrlRefused("webhooks never connect to Unix sockets", reason="address")
