"""ModelScope: where the SDK reads its domain (:func:`resolve_modelscope`, following
``modelscope.hub.utils``), the traps the config check reports, the variable a profile
sets (written by :mod:`envdoctor.shellenv`), the request that exercises a domain and the
``[modelscope]`` table of a profile.
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from envdoctor.checkup import (
    Checkup,
    LoginEnv,
    Remedies,
    Row,
    compare_login,
    drift,
    source_text,
    tool_details,
    url_parts,
    where_set,
)
from envdoctor.configfiles import (
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    chain_setting,
    normalise_endpoint,
)
from envdoctor.context import Context
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions
from envdoctor.profile_checks import (
    ProfileFile,
    check_url_table,
    show,
    toml_table,
    type_name,
    valid_host_port,
)
from envdoctor.profiles import Profile
from envdoctor.redact import mask_url
from envdoctor.tools import PullOptions, hf_pull

MODELSCOPE_DEFAULT_DOMAIN = "www.modelscope.cn"


_MODELSCOPE_DEFAULT = Source("default", "modelscope")


def resolve_modelscope(ctx: Context) -> ToolConfig:
    """ModelScope's ``MODELSCOPE_DOMAIN`` (a bare host) and the ``endpoint`` built from it.

    The modelscope SDK uses ``"https://" + domain`` (``modelscope.hub.utils.get_endpoint``);
    a domain written with a scheme is reported as a problem.  ``MODELSCOPE_ENDPOINT``, a
    full URL, is what ``modelscope_hub`` (which modelscope 1.40 itself builds on, for
    ``HubApi``) reads first; checked with modelscope 1.40.2 and modelscope_hub 0.5.1: with
    only ``MODELSCOPE_ENDPOINT`` set, ``get_endpoint()`` still answers the default domain
    while ``HubApi().endpoint`` follows the variable.  Both are reported.
    """
    problems: list[ConfigProblem] = []
    chain: list[tuple[object, Source]] = [(MODELSCOPE_DEFAULT_DOMAIN, _MODELSCOPE_DEFAULT)]
    raw = ctx.env.get("MODELSCOPE_DOMAIN")
    if raw:
        # Masked before anything else: "https://" + a URL with credentials would put the
        # userinfo after a "/", where mask_url no longer recognises it.
        raw = mask_url(raw)
        chain.append((raw, Source("env", "MODELSCOPE_DOMAIN")))
        if raw.startswith(("http://", "https://")):
            problems.append(
                ConfigProblem(
                    "$MODELSCOPE_DOMAIN",
                    None,
                    "is a bare host: the modelscope SDK adds https:// itself, "
                    f"so it would use https://{raw}",
                )
            )
    domain = chain_setting("MODELSCOPE_DOMAIN", chain)
    endpoint = Setting(
        "endpoint",
        mask_url(f"https://{domain.value}"),
        domain.source,
        tuple((f"https://{value}", source) for value, source in domain.shadowed),
    )
    settings = {"MODELSCOPE_DOMAIN": domain, "endpoint": endpoint}
    if ctx.env.get("MODELSCOPE_ENDPOINT"):
        settings["MODELSCOPE_ENDPOINT"] = Setting(
            "MODELSCOPE_ENDPOINT",
            mask_url(ctx.env["MODELSCOPE_ENDPOINT"]),
            Source("env", "MODELSCOPE_ENDPOINT"),
        )
    return ToolConfig("modelscope", settings, problems, [])


def _modelscope_row(ctx: Context, config: ToolConfig, remedies: Remedies, login: LoginEnv) -> Row:
    domain = config.settings["MODELSCOPE_DOMAIN"]
    row = Row(
        "modelscope",
        f"MODELSCOPE_DOMAIN {mask_url(str(domain.value))} from {source_text(ctx, domain.source)}",
        tool_details(ctx, config),
    )
    raw = ctx.env.get("MODELSCOPE_DOMAIN", "")
    if raw.startswith(("http://", "https://")):
        host = url_parts(raw)[2]
        row.warn(
            f"MODELSCOPE_DOMAIN is a URL ({mask_url(raw)}): the SDK adds https:// itself and "
            f"would use https://{mask_url(raw)}",
            f"export MODELSCOPE_DOMAIN={shlex.quote(host)}" + fix_in(ctx, "MODELSCOPE_DOMAIN"),
        )
    compare_login(row, ctx, login, ("MODELSCOPE_",))
    profile = remedies.profile
    endpoint_setting = config.settings.get("MODELSCOPE_ENDPOINT")
    if endpoint_setting is not None:
        by_endpoint = str(endpoint_setting.value).rstrip("/")
        by_domain = mask_url(f"https://{domain.value}")
        if by_endpoint != by_domain:
            row.warn(
                f"MODELSCOPE_ENDPOINT {by_endpoint} and MODELSCOPE_DOMAIN {domain.value} "
                "disagree: modelscope_hub (HubApi) uses the endpoint, modelscope's "
                "get_endpoint() the domain, so one download goes each way",
                remedies.apply("env") or "set both to the same mirror",
            )
    if profile is not None and profile.modelscope is not None:
        drift(
            row,
            profile,
            "MODELSCOPE_DOMAIN",
            mask_url(str(domain.value)),
            profile.modelscope.domain,
            remedies.apply("env"),
        )
    return row


def fix_in(ctx: Context, variable: str) -> str:
    places = where_set(ctx, variable)
    return f" and fix it in {', '.join(places)}" if places else ""


def _check_domain(file: ProfileFile, value: object) -> str:
    path = ("modelscope", "domain")
    if not isinstance(value, str):
        file.fail(path, f"expected a host name string, got {type_name(value)}")
    if "://" in value:
        bare = urlsplit(value).netloc.rpartition("@")[2]
        file.fail(
            path,
            f"expected a bare host, not a URL: {show(value)}",
            "The ModelScope SDK adds https:// itself: "
            f'write domain = "{bare or "www.modelscope.cn"}".',
        )
    if "@" in value:
        file.fail(path, f"credentials are not allowed: {show(value)}", "Give only the host name.")
    if not valid_host_port(value):
        file.fail(
            path,
            f"{show(value)} is not a host name",
            "Give a bare host such as www.modelscope.cn (an optional :port is allowed).",
        )
    return value.lower()


# --- the Tool protocol ------------------------------------------------------------------

NAME = "modelscope"
TITLE = "ModelScope"
TABLE_KEYS = ("domain", "download-workers")
URL_KEYS: tuple[str, ...] = ()
REQUIRED = ("domain", 'domain = "www.modelscope.cn"')
MODELSCOPE_PROBE_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
MODELSCOPE_LARGE_FILE = "model.safetensors"


@dataclass(frozen=True)
class ModelscopeSettings:
    domain: str
    """A bare host for ``MODELSCOPE_DOMAIN``: the SDK adds ``https://`` itself."""
    download_workers: int | None = None
    """``MODELSCOPE_DOWNLOAD_PARALLEL_WORKERS``: parallel ranges per large file (1 to 16,
    the SDK's cap); None: leave the SDK's default (1)."""


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    checked = check_url_table(file, NAME, table, TABLE_KEYS, URL_KEYS)
    if "domain" in table:
        checked["domain"] = _check_domain(file, table["domain"])
    if "download-workers" in table:
        workers = table["download-workers"]
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 16:
            file.fail(
                (NAME, "download-workers"),
                f"expected a whole number from 1 to 16, got {workers!r}",
                "modelscope_hub caps its parallel ranges at 16: write download-workers = 8.",
            )
        checked["download-workers"] = workers
    return checked


def settings(table: Mapping[str, Any]) -> ModelscopeSettings:
    return ModelscopeSettings(table["domain"], table.get("download-workers"))


def settings_json(value: ModelscopeSettings) -> dict[str, Any]:
    return {"domain": value.domain, "download_workers": value.download_workers}


def settings_toml(value: ModelscopeSettings) -> Any:
    table = toml_table({"domain": value.domain})
    if value.download_workers is not None:
        table.add("download-workers", value.download_workers)
    return table


def parallel_settings(value: ModelscopeSettings) -> ModelscopeSettings:
    """``value`` with the SDK's parallel ranges on: what ``--profile auto`` chooses where
    more connections were measured to help."""
    return dataclasses.replace(value, download_workers=PARALLEL_WORKERS)


def endpoints(value: ModelscopeSettings) -> list[str]:
    return [f"https://{value.domain}"]


def resolve(ctx: Context) -> ToolConfig:
    return resolve_modelscope(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    return [cast("str", config.value("endpoint"))]


def canonical(url: str) -> str:
    """A bare domain is reached over https, as the SDK does."""
    url = normalise_endpoint(url)
    return url if "://" in url else f"https://{url}"


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row:
    return _modelscope_row(ctx, configs[NAME], checkup.remedies, checkup.login)


PARALLEL_ADVICE = (
    "set MODELSCOPE_DOWNLOAD_PARALLEL_WORKERS=8 (default 1; modelscope before 1.40 reads "
    "MODELSCOPE_DOWNLOAD_PARALLELS): the SDK then splits each file over "
    "MODELSCOPE_DOWNLOAD_PARALLEL_THRESHOLD_MB (default 500) into that many parallel ranges"
)
"""Checked against modelscope_hub 0.5.1 ``constants.DOWNLOAD_PARALLELS`` (capped at 16 in
``_download``), which modelscope 1.40 downloads with."""

PARALLEL_WORKERS = 8
"""What ``--profile auto`` sets ``MODELSCOPE_DOWNLOAD_PARALLEL_WORKERS`` to where more
connections were measured to help."""


def pull_path(base_url: str, options: PullOptions | None = None) -> PullPath:
    """``base_url`` is a ``MODELSCOPE_DOMAIN`` (a bare host; ``https://`` is added as the
    SDK does) or a URL: ``/api/v1/models/<owner>/<name>``, the SDK's
    ``HubApi.repo_exists`` request; the weights file through the SDK's file endpoint."""
    base = base_url.strip()
    if "://" not in base:
        base = f"https://{base}"
    base = base.rstrip("/")
    return PullPath(
        base_url,
        NAME,
        f"{base}/api/v1/models/{MODELSCOPE_PROBE_MODEL}",
        f"{base}/api/v1/models/{MODELSCOPE_PROBE_MODEL}/repo"
        f"?Revision=master&FilePath={MODELSCOPE_LARGE_FILE}",
        large_file=functools.partial(
            hf_pull.find_modelscope_file, base, MODELSCOPE_PROBE_MODEL, MODELSCOPE_LARGE_FILE
        ),
        parallel_advice=PARALLEL_ADVICE,
    )


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    """``MODELSCOPE_DOMAIN`` (the modelscope SDK's ``get_endpoint``) and the same mirror as
    ``MODELSCOPE_ENDPOINT`` (modelscope_hub, which newer modelscope uses for ``HubApi``):
    each code path of the installed SDKs reads one of them."""
    if profile.modelscope is None:
        return []
    domain = profile.modelscope.domain
    variables = [("MODELSCOPE_DOMAIN", domain), ("MODELSCOPE_ENDPOINT", f"https://{domain}")]
    workers = profile.modelscope.download_workers
    if workers is not None:
        # modelscope_hub reads the first (without a warning when it is set); modelscope
        # before 1.40 reads only the second.
        variables += [
            ("MODELSCOPE_DOWNLOAD_PARALLEL_WORKERS", str(workers)),
            ("MODELSCOPE_DOWNLOAD_PARALLELS", str(workers)),
        ]
    return variables


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> None:
    """The SDK reads only variables: :mod:`envdoctor.shellenv` writes them."""
    return None


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """The SDK reads only variables: the same ones as the shell files."""
    return env_variables(profile)
