"""Proxy headers: the client address and scheme as a trusted proxy reports them.

X-Forwarded-For / X-Forwarded-Proto are read when present, else RFC 7239 `Forwarded`. The
addresses are walked from the right: each hop that is a trusted proxy is skipped, and the first
one that is not is the client. A client cannot forge its way past a proxy that appends.
Connections on a unix socket come from this machine and are trusted like loopback.
"""

import ipaddress

from porch.http.headers import split_comma_list
from porch.http.native import RequestHead

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyHeaders:
    """Rewrites a request head's client and scheme from trusted proxies' headers."""

    def __init__(self, trusted: str = "127.0.0.1,::1") -> None:
        entries = split_comma_list(trusted)
        self.trust_all = "*" in entries
        self.networks: list[Network] = []
        for entry in entries:
            if entry == "*":
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"--forwarded-allow-ips: {entry!r} is not an address or CIDR"
                ) from None
        self._cache: dict[str, bool] = {}

    def trusts(self, host: str) -> bool:
        """Whether `host` (an address) is a trusted proxy."""
        if self.trust_all:
            return True
        known = self._cache.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                known = False
            else:
                known = any(address in network for network in self.networks)
            if len(self._cache) < 4096:
                self._cache[host] = known
        return known

    def apply(self, head: RequestHead) -> None:
        """Take the client and scheme from the headers, if the peer is trusted."""
        if head.client is not None and not self.trusts(head.client[0]):
            return
        forwarded_for: list[str] = []
        proto: str | None = None
        forwarded: list[bytes] = []
        for name, value in head.headers:
            if name == b"x-forwarded-for":
                forwarded_for += split_comma_list(value)
            elif name == b"x-forwarded-proto":
                members = split_comma_list(value)
                if members:
                    proto = members[-1]
            elif name == b"forwarded":
                forwarded.append(value)
        if not forwarded_for and proto is None and forwarded:
            forwarded_for, proto = _parse_forwarded(forwarded)
        if proto is not None:
            proto = proto.lower()
            if proto in ("http", "https"):
                head.scheme = proto
        if forwarded_for:
            client = forwarded_for[0]
            for hop in reversed(forwarded_for):
                client = hop
                if not self.trusts(_host_of(hop)):
                    break
            head.client = (_host_of(client), 0)


def _parse_forwarded(values: list[bytes]) -> tuple[list[str], str | None]:
    """The `for` addresses and the last `proto` of RFC 7239 Forwarded fields."""
    hosts: list[str] = []
    proto: str | None = None
    for value in values:
        for element in split_comma_list(value):
            for pair in element.split(";"):
                key, _, raw = pair.strip().partition("=")
                raw = raw.strip().strip('"')
                key = key.strip().lower()
                if key == "for" and raw:
                    hosts.append(raw)
                elif key == "proto" and raw:
                    proto = raw
    return hosts, proto


def _host_of(node: str) -> str:
    """The address part of a forwarded node: `[2001:db8::1]:80` -> `2001:db8::1`."""
    node = node.strip()
    if node.startswith("["):
        return node[1:].partition("]")[0]
    if node.count(":") == 1:
        return node.partition(":")[0]
    return node
