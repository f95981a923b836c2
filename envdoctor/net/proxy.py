"""Which proxy a request goes through, with the rules of Python's urllib and requests."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from envdoctor.net.results import Outcome, ProbeFailure
from envdoctor.redact import mask_url


def proxies_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """``{"http": ..., "https": ..., "all": ..., "no": ...}`` from ``*_proxy`` variables.

    The semantics of Python's ``urllib.request.getproxies_environment``, which
    ``requests`` (so pip) uses: names are case-insensitive and a lowercase variable wins
    over its uppercase twin, an empty lowercase one removing it; ``HTTP_PROXY`` is
    ignored when ``REQUEST_METHOD`` is set (a CGI request can set it: httpoxy).  curl
    differs by ignoring uppercase ``HTTP_PROXY`` altogether; Go programs (docker)
    prefer uppercase.  Values hold credentials: mask them before showing.
    """
    proxies: dict[str, str] = {}
    for name, value in env.items():
        lowered = name.lower()
        if value and lowered.endswith("_proxy"):
            proxies[lowered[:-6]] = value
    if "REQUEST_METHOD" in env:
        proxies.pop("http", None)
    for name, value in env.items():
        if name.endswith("_proxy"):
            key = name.lower()[:-6]
            if value:
                proxies[key] = value
            else:
                proxies.pop(key, None)
    return proxies


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``no_proxy`` sends ``host:port`` direct.

    Comma-separated entries, spaces ignored: ``*`` alone matches everything; an IP
    address or CIDR network (``10.0.0.0/8``, ``::1``) matches IP hosts in it, as
    ``requests`` does; ``name`` or ``.name`` matches that host and its subdomains on a
    dot boundary (``urllib`` and curl; ``requests`` alone also matches ``xname``);
    ``name:port`` only that port.
    """
    entries = [entry.strip() for entry in no_proxy.split(",")]
    entries = [entry for entry in entries if entry]
    if entries == ["*"]:
        return True
    host = host.lower().strip("[]").rstrip(".")
    host_ip = ip_or_none(host)
    for entry in entries:
        entry = entry.lower()
        entry_port: int | None = None
        bare = entry
        if entry.startswith("["):  # [v6]:port
            closing = entry.find("]")
            bare = entry[1:closing] if closing > 0 else entry
            rest = entry[closing + 1 :] if closing > 0 else ""
            if rest.startswith(":") and rest[1:].isdigit():
                entry_port = int(rest[1:])
        elif entry.count(":") == 1:
            name, _, port_text = entry.partition(":")
            if port_text.isdigit():
                bare, entry_port = name, int(port_text)
        if entry_port is not None and entry_port != port:
            continue
        if host_ip is not None:
            try:
                network = ipaddress.ip_network(bare, strict=False)
            except ValueError:
                continue
            if host_ip.version == network.version and host_ip in network:
                return True
            continue
        domain = bare.lstrip(".").rstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy URL (with credentials: mask before showing) a pip-like client would use
    for ``url``, or ``None`` for a direct connection.  ``https_proxy`` for https,
    ``http_proxy`` for http, else ``all_proxy``; ``no_proxy`` per :func:`bypasses_proxy`.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    proxies = proxies_from_env(env)
    chosen = proxies.get(scheme) or proxies.get("all")
    if not chosen or not parts.hostname:
        return None
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return chosen
    if bypasses_proxy(parts.hostname, port, proxies.get("no", "")):
        return None
    return chosen


def ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    authorization: str | None
    display: str


def parse_proxy(value: str) -> Proxy:
    display = mask_url(value if "://" in value else f"http://{value}")
    parts = urlsplit(value if "://" in value else f"http://{value}")
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        raise ProbeFailure(
            Outcome.PROXY_ERROR,
            f"proxy {display}: SOCKS proxies are not supported by this probe",
            "connect",
        )
    if scheme != "http":
        raise ProbeFailure(
            Outcome.PROXY_ERROR,
            f"proxy {display}: only http:// proxies are supported by this probe",
            "connect",
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise ProbeFailure(Outcome.PROXY_ERROR, f"proxy {display}: bad port", "connect") from None
    if not parts.hostname:
        raise ProbeFailure(Outcome.PROXY_ERROR, f"proxy {display}: no host", "connect")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Proxy(parts.hostname, port, authorization, display)


DEFAULT_PORTS = {"http": 80, "https": 443}
