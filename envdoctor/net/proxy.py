"""Which proxy a request goes through, with the rules of the client that makes it.

Clients disagree about ``*_proxy`` variables, so each tool's pull path names its
client's rules (:data:`ProxyRules`) and every request of a measurement follows them:

``requests``
    pip (its vendored requests), conda and the ModelScope SDK: ``no_proxy`` or, when it
    is empty, ``NO_PROXY``; an IPv4 host matches IPv4 addresses and networks only, any
    other host matches entries it ends with (``xname`` too, and ``host:port`` only
    when the URL names that port), then urllib's rules on the host alone.
``httpx``
    huggingface_hub (1.0 and later, through httpx): urllib's variables; ``name``
    matches ``name`` and its subdomains, ``.name`` only subdomains, IPv4 and IPv6
    addresses and networks their hosts, ``host:port`` never a URL without a port.
``go``
    dockerd, containerd and podman (Go's ``net/http.ProxyFromEnvironment``): upper case
    first (``HTTPS_PROXY``, then ``https_proxy``), no ``ALL_PROXY``; localhost and
    loopback always direct; ``*`` anywhere; IP addresses and networks of both
    families; ``name`` matches name and subdomains, ``.name`` subdomains only;
    ``name:port`` only that port.
``uv``
    uv (Rust reqwest): upper case first, and an empty ``NO_PROXY`` hides ``no_proxy``;
    ``ALL_PROXY`` for both schemes; IP addresses and networks of both families;
    names on a dot boundary, in any case; no ports.

``tests/test_proxy_rules.py`` compares each with the real client or library.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import re
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from envdoctor.net.results import Outcome, ProbeFailure
from envdoctor.redact import mask_url

ProxyRules = Literal["requests", "httpx", "go", "uv"]

RULES_CLIENTS: dict[ProxyRules, str] = {
    "requests": "requests (pip, conda, ModelScope)",
    "httpx": "httpx (huggingface_hub)",
    "go": "Go net/http (dockerd, containerd, podman)",
    "uv": "uv (reqwest)",
}
"""Who follows each set of rules, in words."""


def proxies_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """``{"http": ..., "https": ..., "all": ..., "no": ...}`` from ``*_proxy`` variables.

    The semantics of Python's ``urllib.request.getproxies_environment``, which
    ``requests`` and httpx use: names are case-insensitive and a lowercase variable wins
    over its uppercase twin, an empty lowercase one removing it; ``HTTP_PROXY`` is
    ignored when ``REQUEST_METHOD`` is set (a CGI request can set it: httpoxy).  Values
    hold credentials: mask them before showing.
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


def no_proxy_value(env: Mapping[str, str], rules: ProxyRules) -> str:
    """The ``no_proxy`` list as the client reads it (which variable, which case)."""
    if rules == "requests":
        return env.get("no_proxy") or env.get("NO_PROXY") or ""
    if rules == "httpx":
        return proxies_from_env(env).get("no", "")
    if rules == "go":
        return env.get("NO_PROXY") or env.get("no_proxy") or ""
    if "NO_PROXY" in env:
        return env["NO_PROXY"]
    return env.get("no_proxy", "")


def proxy_for(url: str, env: Mapping[str, str], rules: ProxyRules = "requests") -> str | None:
    """The proxy URL (with credentials: mask before showing) the client following
    ``rules`` uses for ``url``, or ``None`` for a direct connection."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if not parts.hostname:
        return None
    chosen = configured_proxy(scheme, env, rules)
    if not chosen:
        return None
    try:
        parts.port  # noqa: B018 - a bad port: the client fails, the proxy question is moot
    except ValueError:
        return chosen
    if goes_direct(url, env, rules):
        return None
    return chosen


def configured_proxy(scheme: str, env: Mapping[str, str], rules: ProxyRules) -> str | None:
    """The proxy the client following ``rules`` takes for ``scheme`` URLs, before
    ``no_proxy``; None when it has none."""
    if rules in ("requests", "httpx"):
        proxies = proxies_from_env(env)
        return proxies.get(scheme) or proxies.get("all")
    upper = scheme.upper()
    if rules == "go":
        if scheme == "http" and "REQUEST_METHOD" in env:
            return None  # Go refuses HTTP_PROXY in a CGI environment
        return env.get(f"{upper}_PROXY") or env.get(f"{scheme}_proxy") or None
    if scheme == "http" and "REQUEST_METHOD" in env:
        names = [f"{scheme}_proxy"]
    else:
        names = [f"{upper}_PROXY", f"{scheme}_proxy"]
    for name in [*names, "ALL_PROXY", "all_proxy"]:
        if env.get(name):
            return env[name]
    return None


def goes_direct(url: str, env: Mapping[str, str], rules: ProxyRules = "requests") -> bool:
    """Whether the client following ``rules`` sends ``url`` direct rather than through
    a proxy, by its ``no_proxy`` rules (whether a proxy is set at all is
    :func:`proxy_for`'s question)."""
    parts = urlsplit(url)
    host = parts.hostname
    if host is None:
        return True
    try:
        port = parts.port
    except ValueError:
        port = None
    no_proxy = no_proxy_value(env, rules)
    if rules == "requests":
        return _requests_direct(host, port, no_proxy, env)
    if rules == "httpx":
        return _httpx_direct(parts.scheme.lower(), host, port, no_proxy)
    if rules == "go":
        default = DEFAULT_PORTS.get(parts.scheme.lower(), 0)
        return _go_direct(host, str(port or default), no_proxy)
    return _uv_direct(host, no_proxy)


# ---- requests (pip's vendored requests 2.31, the same code through 2.32)


def _requests_direct(host: str, port: int | None, no_proxy: str, env: Mapping[str, str]) -> bool:
    entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
    if entries:
        if _inet_aton(host) is not None:
            for entry in entries:
                if _valid_cidr(entry):
                    if _in_network(host, entry):
                        return True
                elif host == entry:
                    return True
        else:
            with_port = f"{host}:{port}" if port else host
            if any(host.endswith(entry) or with_port.endswith(entry) for entry in entries):
                return True
    return _urllib_bypass(host, proxies_from_env(env))


def _urllib_bypass(host: str, proxies: Mapping[str, str]) -> bool:
    """``urllib.request.proxy_bypass_environment(host)`` (Python 3.11 to 3.13)."""
    no_proxy = proxies.get("no")
    if no_proxy is None:
        return False
    if no_proxy == "*":
        return True
    host = host.lower()
    match = re.fullmatch("(.*):([0-9]*)", host, re.DOTALL)
    hostonly = match.group(1) if match else host
    for name in no_proxy.split(","):
        name = name.strip().lstrip(".").lower()
        if not name:
            continue
        if name in (hostonly, host):
            return True
        if hostonly.endswith("." + name) or host.endswith("." + name):
            return True
    return False


def _inet_aton(text: str) -> bytes | None:
    try:
        return socket.inet_aton(text)
    except (OSError, ValueError):
        return None


def _valid_cidr(entry: str) -> bool:
    if entry.count("/") != 1:
        return False
    address, _, bits = entry.partition("/")
    try:
        mask = int(bits)
    except ValueError:
        return False
    return 1 <= mask <= 32 and _inet_aton(address) is not None


def _in_network(host: str, network: str) -> bool:
    address, _, bits = network.partition("/")
    mask = (0xFFFFFFFF << (32 - int(bits))) & 0xFFFFFFFF
    (host_value,) = struct.unpack("!L", _inet_aton(host) or bytes(4))
    (net_value,) = struct.unpack("!L", _inet_aton(address) or bytes(4))
    return bool(host_value & mask == net_value & mask)


# ---- httpx (httpx2 2.16, huggingface_hub 2.x's HTTP library)


def _httpx_direct(scheme: str, host: str, port: int | None, no_proxy: str) -> bool:
    if port == DEFAULT_PORTS.get(scheme):
        port = None  # httpx normalises a default port away
    for entry in (part.strip() for part in no_proxy.split(",")):
        if entry == "*":
            return True
        pattern = _httpx_pattern(entry)
        if pattern is not None and _httpx_matches(pattern, scheme, host.lower(), port):
            return True
    return False


@dataclass(frozen=True)
class _Pattern:
    scheme: str
    host: str
    port: int | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None


def _httpx_pattern(entry: str) -> _Pattern | None:
    if not entry:
        return None
    if "://" in entry:
        text = entry
    elif _is_ip(entry, 4) or entry.lower() == "localhost" or entry.startswith("["):
        text = f"all://{entry}"
    elif _is_ip(entry, 6):
        address, slash, bits = entry.partition("/")
        text = f"all://[{address}]/{bits}" if slash else f"all://[{entry}]"
    elif entry.startswith("*.") and "/" not in entry:
        text = f"all://{entry}"
    elif "/" not in entry:
        text = f"all://*{entry}"
    else:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    raw_host = parts.netloc.rpartition("@")[2]
    raw_host = raw_host.rsplit(":", 1)[0] if port is not None else raw_host
    host = raw_host.strip("[]").lower()
    network = None
    prefix = parts.path.removeprefix("/")
    if prefix and (_is_ip(host, 4) or _is_ip(host, 6)):
        if not prefix.isdigit():
            return None
        try:
            network = ipaddress.ip_network(f"{host}/{prefix}", strict=False)
        except ValueError:
            return None
    scheme = parts.scheme.lower()
    return _Pattern("" if scheme == "all" else scheme, "" if host == "*" else host, port, network)


def _httpx_matches(pattern: _Pattern, scheme: str, host: str, port: int | None) -> bool:
    if pattern.scheme and pattern.scheme != scheme:
        return False
    if pattern.network is not None:
        address = ip_or_none(host)
        if address is None or address not in pattern.network:
            return False
    elif pattern.host:
        if pattern.host.startswith("*."):
            if not host.endswith(pattern.host[1:]) or host == pattern.host[1:]:
                return False
        elif pattern.host.startswith("*"):
            domain = pattern.host[1:]
            if host != domain and not host.endswith("." + domain):
                return False
        elif host != pattern.host:
            return False
    return pattern.port is None or pattern.port == port


def _is_ip(text: str, version: int) -> bool:
    address = ip_or_none(text.split("/")[0])
    return address is not None and address.version == version


# ---- Go (golang.org/x/net/http/httpproxy, as vendored in Go's net/http)


def _go_direct(host: str, port: str, no_proxy: str) -> bool:
    host = host.lower().strip("[]")
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    if host == "localhost":
        return True
    address = ip_or_none(host)
    if address is not None and address.is_loopback:
        return True
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False) if "/" in entry else None
        except ValueError:
            network = None
        if network is not None:
            if address is not None and address.version == network.version and address in network:
                return True
            continue
        entry_host, entry_port = _go_split_host_port(entry)
        if not entry_host:
            continue
        entry_ip = ip_or_none(entry_host)
        if entry_ip is not None:
            if address is not None and entry_ip == address and entry_port in ("", port):
                return True
            continue
        if entry_host.startswith("*."):
            entry_host = entry_host[1:]
        exact = not entry_host.startswith(".")
        suffix = entry_host if not exact else "." + entry_host
        if (host.endswith(suffix) or (exact and host == suffix[1:])) and entry_port in ("", port):
            return True
    return False


def _go_split_host_port(entry: str) -> tuple[str, str]:
    """``net.SplitHostPort``, falling back to the whole entry as a host."""
    if entry.startswith("["):
        closing = entry.find("]")
        if closing > 0 and entry[closing + 1 : closing + 2] == ":":
            return entry[1:closing], entry[closing + 2 :]
        return entry, ""
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, port
    return entry, ""


# ---- uv (reqwest's NoProxy, observed with the uv binary)


def _uv_direct(host: str, no_proxy: str) -> bool:
    host = host.strip("[]").lower()
    address = ip_or_none(host)
    for entry in (part.strip().lower() for part in no_proxy.split(",")):
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            network = None
        if network is not None:
            if address is not None and address.version == network.version and address in network:
                return True
            continue
        if address is not None:
            continue
        if entry == "*" or entry == host or entry.removeprefix(".") == host:
            return True
        if host.endswith(entry) and (entry.startswith(".") or host[: -len(entry)].endswith(".")):
            return True
    return False


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
