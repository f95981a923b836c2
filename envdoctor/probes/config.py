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
from envdoctor.net.proxy import bypasses_proxy
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
    for lower in PROXY_VARIABLES:
        upper = lower.upper()
        low_value, up_value = env.get(lower), env.get(upper)
        if low_value == up_value or (not low_value and not up_value):
            continue
        if low_value and up_value:
            row.warn(
                f"{lower} ({mask_url(low_value)}) and {upper} ({mask_url(up_value)}) differ: "
                "curl and Python use the lowercase one, Go programs such as docker the "
                "uppercase one",
                f'export {upper}="${lower}"',
            )
        else:
            present, absent = (lower, upper) if low_value else (upper, lower)
            row.warn(
                f"only {present} is set: programs that read {absent} "
                f"({'Go programs such as docker' if absent == upper else 'curl and Python'}) "
                "do not see it",
                f'export {absent}="${present}"',
            )
    no_proxy_value = env.get("no_proxy") or env.get("NO_PROXY") or ""
    entries = _split_hosts(no_proxy_value)
    missing = [host for host in LOCAL_HOSTS if host not in entries]
    row.details["no_proxy"] = entries
    if missing and "*" not in entries:
        wanted = ",".join([*entries, *missing])
        row.warn(
            f"a proxy is set but no_proxy lacks {', '.join(missing)}: local services "
            "(a model server on localhost) are sent through the proxy",
            f"export no_proxy={shlex.quote(wanted)} NO_PROXY={shlex.quote(wanted)}",
        )
    via_proxy = _mirrors_via_proxy(configs, no_proxy_value)
    row.details["mirrors_via_proxy"] = via_proxy
    if via_proxy:
        # Not a warning: whether a mirror is reachable without the proxy is the network
        # check's to measure; people behind a proxy still want to know which way it goes.
        row.summary += f"; mirrors through it: {', '.join(via_proxy)}"
    return row


def _mirrors_via_proxy(configs: Mapping[str, ToolConfig], no_proxy: str) -> list[str]:
    """``host[:port]`` of the configured mirrors that no_proxy does not send direct."""
    hosts: dict[str, None] = {}
    for urls in tools.mirrors_of(configs).values():
        for url in urls:
            parts = urlsplit(url if "://" in url else f"https://{url}")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                continue
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                continue
            if not bypasses_proxy(parts.hostname, port, no_proxy):
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
