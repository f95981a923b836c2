"""Configuration: what pip, uv, conda, Docker, the HF hub, ModelScope and proxies really use.

One row per tool: each tool module resolves what its tool really uses and diagnoses it
(``resolve`` and ``diagnose`` in :mod:`envdoctor.tools`): a value overridden by a source
the user probably did not expect, a setting that turns off a safety check or makes
downloads bypass a mirror, a file the tool would refuse, and, with ``check --profile
NAME``, every difference from that profile (drift).  The proxy row, which belongs to no
one tool, is built here.  Mirror liveness is the network probe's job; nothing here
touches the network.  Every URL shown has its credentials masked.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from envdoctor import tools
from envdoctor.checkup import Checkup, Remedies, Row, known_profile, login_env, where_set
from envdoctor.configfiles import ToolConfig
from envdoctor.context import Context
from envdoctor.net.proxy import RULES_CLIENTS, configured_proxy, no_proxy_value, proxy_for
from envdoctor.redact import mask_url
from envdoctor.requirements import CheckOptions
from envdoctor.results import CheckResult

NAME = "config"


TITLE = "Configuration"


DEFAULT_TIMEOUT = 5.0


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def _split_hosts(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\s]+", value) if part.strip()]


def _proxy_row(ctx: Context, configs: Mapping[str, ToolConfig]) -> Row:
    env = ctx.env
    variables: dict[str, Any] = {}
    for lower in PROXY_VARIABLES:
        for name in (lower, lower.upper()):
            if name in env:
                variables[name] = {"value": mask_url(env[name]), "set_in": where_set(ctx, name)}
    proxies = [
        (name, env[name])
        for lower in PROXY_VARIABLES[:3]
        for name in (lower, lower.upper())
        if env.get(name)
    ]
    if not proxies:
        return Row("proxy", "no proxy", {"variables": variables})
    first = proxies[0]
    summary = f"{first[0]} {mask_url(first[1])}"
    if len(proxies) > 1:
        summary += f" (+{len(proxies) - 1} more)"
    row = Row("proxy", summary, {"variables": variables})
    for scheme in ("https", "http"):
        _warn_when_clients_differ(row, env, scheme)
    # Clients read different variables (requests: no_proxy, else NO_PROXY; Go and uv:
    # NO_PROXY first): the localhost advice looks at what each of them reads.
    readings = {rules: no_proxy_value(env, rules) for rules in RULES_CLIENTS}
    no_proxy_text = readings["requests"]
    entries = _split_hosts(no_proxy_text)
    row.details["no_proxy"] = entries
    differing = {
        RULES_CLIENTS[rules]: value for rules, value in readings.items() if value != no_proxy_text
    }
    if differing:
        row.details["no_proxy_by_client"] = {
            RULES_CLIENTS[rules]: _split_hosts(value) for rules, value in readings.items()
        }
    if differing:
        shown = "; ".join(f"{client} {value!r}" for client, value in differing.items())
        row.warn(
            f"clients read different no_proxy lists: requests (pip) {no_proxy_text!r}; {shown}",
            'export NO_PROXY="$no_proxy"' if env.get("no_proxy") else 'export no_proxy="$NO_PROXY"',
        )
    missing = [host for host in LOCAL_HOSTS if host not in entries]
    if missing and "*" not in entries:
        wanted = ",".join([*entries, *missing])
        row.warn(
            f"a proxy is set but no_proxy lacks {', '.join(missing)}: local services "
            "(a model server on localhost) are sent through the proxy",
            f"export no_proxy={shlex.quote(wanted)} NO_PROXY={shlex.quote(wanted)}",
        )
    via_proxy = _mirrors_via_proxy(configs, env)
    row.details["mirrors_via_proxy"] = via_proxy
    if via_proxy:
        # Not a warning: whether a mirror is reachable without the proxy is the network
        # check's to measure; people behind a proxy still want to know which way it goes.
        row.summary += f"; mirrors through it: {', '.join(via_proxy)}"
    return row


def _warn_when_clients_differ(row: Row, env: Mapping[str, str], scheme: str) -> None:
    """Warn when clients would use different proxies for ``scheme`` URLs: requests and
    httpx prefer lowercase variables, Go and uv uppercase, Go reads no ``ALL_PROXY``."""
    chosen = {rules: configured_proxy(scheme, env, rules) for rules in RULES_CLIENTS}
    if len(set(chosen.values())) < 2:
        return
    parts = [
        f"{RULES_CLIENTS[rules]} {mask_url(value) if value else 'none'}"
        for rules, value in chosen.items()
    ]
    lower, upper = f"{scheme}_proxy", f"{scheme.upper()}_PROXY"
    source = next(name for name in (lower, upper, "all_proxy", "ALL_PROXY") if env.get(name))
    assignments = " ".join(f'{name}="${source}"' for name in (lower, upper) if name != source)
    row.warn(
        f"clients use different proxies for {scheme} URLs ({'; '.join(parts)}): "
        f"{lower} and {upper} differ or only one is set",
        f"export {assignments}",
    )


def _mirrors_via_proxy(configs: Mapping[str, ToolConfig], env: Mapping[str, str]) -> list[str]:
    """``host[:port]`` of the configured mirrors that their own client sends through the
    proxy, by that client's ``*_proxy`` rules (pip's requests, uv's reqwest, dockerd's
    Go, huggingface_hub's httpx)."""
    hosts: dict[str, None] = {}
    for name, urls in tools.mirrors_of(configs).items():
        for url in urls:
            parts = urlsplit(url if "://" in url else f"https://{url}")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                continue
            full = parts.geturl()
            path = tools.load(name).pull_path(full)
            rules = path.proxy_rules if path is not None else "requests"
            if proxy_for(full, env, rules) is not None:
                hosts[parts.netloc.rpartition("@")[2]] = None
    return list(hosts)


_ALWAYS = ("pip", "uv")
"""Rows made even when the run is cancelled: the Python index rows are cheap, and uv's
compares with pip's; a cancel stops the rows after them."""


def run(ctx: Context, options: CheckOptions) -> list[CheckResult]:
    """One row per tool (in registry order), then the proxy row."""
    profile, remedy_profile, profile_error = known_profile(ctx, options)
    checkup = Checkup(Remedies(ctx, profile, remedy_profile), login_env(ctx))
    configs = tools.resolve_all(ctx)  # read once; every row and the proxy row share it
    rows: list[Row] = []
    for tool in tools.all_tools():
        if ctx.cancel.is_set() and tool.NAME not in _ALWAYS:
            break
        row = tool.diagnose(ctx, configs, checkup)
        if row is not None:
            rows.append(row)
    if not ctx.cancel.is_set():
        rows.append(_proxy_row(ctx, configs))
    drift_checked = profile is not None
    results = []
    for row in rows:
        if profile_error is not None:
            row.details["drift_error"] = profile_error
        if remedy_profile is not None:
            row.details["remedy_profile"] = remedy_profile
        results.append(row.result(drift_checked))
    return results
