"""The Hugging Face hub: where huggingface_hub reads its endpoint and cache
(:func:`resolve_hf`, following ``huggingface_hub/constants.py``), the traps the config
check reports, the variables a profile sets (written by :mod:`envdoctor.shellenv`), the
request that exercises an endpoint and the ``[hf]`` table of a profile.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from envdoctor.checkup import (
    Checkup,
    LoginEnv,
    Remedies,
    Row,
    add_problems,
    compare_login,
    drift,
    free_bytes,
    mask_value,
    source_text,
    tool_details,
)
from envdoctor.configfiles import (
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    chain_setting,
    env_path,
    expanduser,
    expandvars,
    normalise_endpoint,
)
from envdoctor.context import Context
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions
from envdoctor.profile_checks import (
    ENV_NAME_RE,
    ProfileFile,
    add_allow_http,
    any_http,
    check_url_table,
    toml_table,
    type_name,
)
from envdoctor.profiles import Profile
from envdoctor.redact import mask_url
from envdoctor.tools import PullOptions, hf_pull

HF_DEFAULT_ENDPOINT = "https://huggingface.co"
HF_STAGING_ENDPOINT = "https://hub-ci.huggingface.co"
"""``HUGGINGFACE_CO_STAGING=1``: huggingface_hub's test hub, whatever ``HF_ENDPOINT`` says."""


_HF_DEFAULT = Source("default", "huggingface_hub")


_HF_TRUE = ("1", "ON", "YES", "TRUE")


def hub_cache(ctx: Context) -> Path:
    """Where huggingface_hub stores models, as :func:`resolve_hf` resolves it
    (``HF_HUB_CACHE``, the legacy ``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, where
    ``HF_HOME`` defaults to ``$XDG_CACHE_HOME/huggingface``)."""
    return Path(str(resolve_hf(ctx).value("HF_HUB_CACHE")))


def _hf_path(ctx: Context, value: str) -> str:
    return str(env_path(ctx, expandvars(expanduser(ctx, value), ctx.env)))


def _hf_flag(ctx: Context, *variables: str) -> Setting:
    """``_is_true(os.environ.get(a) or os.environ.get(b))`` with where it came from."""
    name = variables[0]
    chain: list[tuple[object, Source]] = [(False, _HF_DEFAULT)]
    for variable in variables:
        raw = ctx.env.get(variable)
        if raw:
            chain.append((raw.upper() in _HF_TRUE, Source("env", variable)))
            break
    return chain_setting(name, chain)


def _hf_int(ctx: Context, variable: str, default: int, problems: list[ConfigProblem]) -> Setting:
    """``_as_int(os.environ.get(name)) or default``: 0 and unset both mean the default."""
    raw = ctx.env.get(variable)
    chain: list[tuple[object, Source]] = [(default, _HF_DEFAULT)]
    if raw is not None:
        try:
            number = int(raw)
        except ValueError:
            problems.append(
                ConfigProblem(
                    f"${variable}",
                    None,
                    f"{raw!r} is not a whole number: huggingface_hub fails to import",
                )
            )
        else:
            if number:
                chain.append((number, Source("env", variable)))
    return chain_setting(variable, chain)


def resolve_hf(ctx: Context) -> ToolConfig:
    """The Hugging Face hub's endpoint, cache paths, offline and transfer switches.

    Values as ``huggingface_hub.constants`` reads them at import time; settings are named
    after their variables (``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_CACHE`` ...).
    """
    problems: list[ConfigProblem] = []
    env = ctx.env
    settings: dict[str, Setting] = {}

    endpoint_chain: list[tuple[object, Source]] = [(HF_DEFAULT_ENDPOINT, _HF_DEFAULT)]
    if "HF_ENDPOINT" in env:
        if not env["HF_ENDPOINT"].strip():
            problems.append(
                ConfigProblem("$HF_ENDPOINT", None, "is set but empty: every hub request fails")
            )
        endpoint_chain.append(
            (mask_url(env["HF_ENDPOINT"].rstrip("/")), Source("env", "HF_ENDPOINT"))
        )
    if env.get("HUGGINGFACE_CO_STAGING", "").upper() in _HF_TRUE:  # over HF_ENDPOINT too
        endpoint_chain.append((HF_STAGING_ENDPOINT, Source("env", "HUGGINGFACE_CO_STAGING")))
    settings["HF_ENDPOINT"] = chain_setting("HF_ENDPOINT", endpoint_chain)

    cache_base = env["XDG_CACHE_HOME"] if "XDG_CACHE_HOME" in env else str(ctx.home / ".cache")
    home_default = _hf_path(ctx, str(Path(cache_base) / "huggingface"))
    home_source = Source("env", "XDG_CACHE_HOME") if "XDG_CACHE_HOME" in env else _HF_DEFAULT
    home_chain: list[tuple[object, Source]] = [(home_default, home_source)]
    if "HF_HOME" in env:
        home_chain.append((_hf_path(ctx, env["HF_HOME"]), Source("env", "HF_HOME")))
    settings["HF_HOME"] = chain_setting("HF_HOME", home_chain)
    hf_home = cast("str", settings["HF_HOME"].value)

    cache_chain: list[tuple[object, Source]] = [
        (str(Path(hf_home) / "hub"), settings["HF_HOME"].source)
    ]
    for variable in ("HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE"):
        if variable in env:
            cache_chain.append((_hf_path(ctx, env[variable]), Source("env", variable)))
    settings["HF_HUB_CACHE"] = chain_setting("HF_HUB_CACHE", cache_chain)

    settings["HF_HUB_OFFLINE"] = _hf_flag(ctx, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    for variable in ("HF_HUB_DISABLE_XET", "HF_HUB_ENABLE_HF_TRANSFER", "HF_XET_HIGH_PERFORMANCE"):
        settings[variable] = _hf_flag(ctx, variable)
    settings["HF_HUB_DOWNLOAD_TIMEOUT"] = _hf_int(ctx, "HF_HUB_DOWNLOAD_TIMEOUT", 10, problems)
    settings["HF_HUB_ETAG_TIMEOUT"] = _hf_int(ctx, "HF_HUB_ETAG_TIMEOUT", 10, problems)
    return ToolConfig("hf", settings, problems, [])


def _hf_row(ctx: Context, config: ToolConfig, remedies: Remedies, login: LoginEnv) -> Row:
    endpoint = config.settings["HF_ENDPOINT"]
    cache = str(config.value("HF_HUB_CACHE"))
    free = free_bytes(ctx, cache)
    summary = f"HF_ENDPOINT {endpoint.value} from {source_text(ctx, endpoint.source)}"
    if config.value("HF_HUB_OFFLINE") is True:
        summary += " (offline: HF_HUB_OFFLINE)"
    details = tool_details(ctx, config)
    details["cache"] = ctx.display(Path(cache))
    details["cache_free_bytes"] = free
    row = Row("hf", summary, details)
    add_problems(row, ctx, config)
    if config.value("HF_HUB_ENABLE_HF_TRANSFER") is True:
        row.warn(
            "HF_HUB_ENABLE_HF_TRANSFER is deprecated (huggingface_hub 1.0): the fast path is "
            "hf-xet with HF_XET_HIGH_PERFORMANCE=1",
            remedies.unset("HF_HUB_ENABLE_HF_TRANSFER") + "; export HF_XET_HIGH_PERFORMANCE=1",
        )
    mirror = normalise_endpoint(str(endpoint.value)) != HF_DEFAULT_ENDPOINT
    if mirror and config.value("HF_HUB_DISABLE_XET") is not True:
        row.warn(
            f"Xet is on with the mirror {endpoint.value}: Xet downloads can bypass the mirror",
            # Not an apply: a profile without HF_HUB_DISABLE_XET would also reset the endpoint.
            "export HF_HUB_DISABLE_XET=1 (and add it where HF_ENDPOINT is set)",
        )
    compare_login(row, ctx, login, ("HF_", "HUGGINGFACE_"))
    profile = remedies.profile
    if profile is not None and profile.hf is not None:
        drift(
            row,
            profile,
            "HF_ENDPOINT",
            normalise_endpoint(str(endpoint.value)),
            normalise_endpoint(profile.hf.endpoint),
            remedies.apply("env"),
        )
        for name, value in sorted(profile.hf.env.items()):
            drift(
                row,
                profile,
                name,
                mask_value(ctx.env.get(name)),
                mask_url(value),
                remedies.apply("env"),
            )
    return row


def _check_env(file: ProfileFile, env: object) -> dict[str, str]:
    if not isinstance(env, dict):
        file.fail(
            ("hf", "env"),
            f"expected a table of variables, got {type_name(env)}",
            'Write [hf.env] and below it lines such as HF_HUB_DISABLE_XET = "1".',
        )
    checked: dict[str, str] = {}
    for name, value in env.items():
        path = ("hf", "env", name)
        if not ENV_NAME_RE.match(name) or not name.startswith("HF_"):
            file.fail(
                path,
                "not an HF_* environment variable name",
                "Use upper-case names matching HF_[A-Z0-9_]*, such as HF_HUB_DISABLE_XET.",
            )
        if name == "HF_ENDPOINT":
            file.fail(path, "set by endpoint", 'Write endpoint = "https://..." in [hf] instead.')
        if "TOKEN" in name:
            file.fail(path, "a profile never carries credentials", "Log in with `hf auth login`.")
        if not isinstance(value, str):
            file.fail(path, f"expected a string, got {type_name(value)}", 'Quote it: "1".')
        checked[name] = value
    return checked


# --- the Tool protocol ------------------------------------------------------------------

NAME = "hf"
TITLE = "Hugging Face hub"
TABLE_KEYS = ("endpoint", "env", "allow-http")
URL_KEYS = ("endpoint",)
REQUIRED = ("endpoint", 'endpoint = "https://huggingface.co"')
HF_PROBE_MODEL = "openai-community/gpt2"
"""``gpt2`` under its canonical id since the 2024 move to the openai-community
organisation: a small, public, ungated model every mirror has."""
HF_LARGE_FILE = "model.safetensors"


@dataclass(frozen=True)
class HfSettings:
    endpoint: str
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Extra ``HF_*`` variables, such as ``HF_HUB_DISABLE_XET = "1"`` with a mirror."""
    allow_http: bool = False


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    checked = check_url_table(file, NAME, table, TABLE_KEYS, URL_KEYS)
    if "env" in table:
        checked["env"] = _check_env(file, table["env"])
    return checked


def settings(table: Mapping[str, Any]) -> HfSettings:
    return HfSettings(
        table["endpoint"],
        MappingProxyType(dict(table.get("env", {}))),
        allow_http=any_http([table["endpoint"]]),
    )


def settings_json(value: HfSettings) -> dict[str, Any]:
    return {"endpoint": value.endpoint, "env": dict(value.env), "allow_http": value.allow_http}


def settings_toml(value: HfSettings) -> Any:
    table = toml_table({"endpoint": value.endpoint})
    add_allow_http(table, value.allow_http)
    if value.env:
        table.add("env", toml_table(dict(value.env)))
    return table


def endpoints(value: HfSettings) -> list[str]:
    return [value.endpoint]


def resolve(ctx: Context) -> ToolConfig:
    return resolve_hf(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    return [cast("str", config.value("HF_ENDPOINT"))]


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row:
    return _hf_row(ctx, configs[NAME], checkup.remedies, checkup.login)


PARALLEL_ADVICE = (
    "huggingface_hub's plain HTTP download (a mirror's resolve, HF_HUB_DISABLE_XET=1) reads "
    "each file over one connection; HF_XET_HIGH_PERFORMANCE=1 and "
    "HF_XET_NUM_CONCURRENT_RANGE_GETS=N raise only hf_xet's parallel ranges from Xet "
    "storage, not from this host. For one large file from here, use aria2c -x 8 -s 8 "
    "<resolve URL>; hf download --max-workers 8 (the default) fetches 8 files at once"
)
"""Checked against huggingface_hub 2.4 (``file_download.http_get`` sends ``Range`` only to
resume; ``constants.HF_XET_HIGH_PERFORMANCE``) and hf_xet's documented variables."""


def pull_path(base_url: str, options: PullOptions | None = None) -> PullPath:
    """``base_url`` is an ``HF_ENDPOINT``: the hub API's model info of
    :data:`HF_PROBE_MODEL` (``snapshot_download`` first asks the same API, with a
    revision); its weights file to time."""
    base = base_url.strip().rstrip("/")
    return PullPath(
        base_url,
        NAME,
        f"{base}/api/models/{HF_PROBE_MODEL}",
        f"{base}/{HF_PROBE_MODEL}/resolve/main/{HF_LARGE_FILE}",
        proxy_rules="httpx",  # huggingface_hub 1.0 and later: httpx, not requests
        large_file=functools.partial(
            hf_pull.find_hf_file, base, HF_PROBE_MODEL, "main", HF_LARGE_FILE
        ),
        parallel_advice=PARALLEL_ADVICE,
    )


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    """``HF_ENDPOINT`` and the profile's extra ``HF_*`` variables, for the shell files."""
    if profile.hf is None:
        return []
    return [("HF_ENDPOINT", profile.hf.endpoint), *sorted(profile.hf.env.items())]


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> None:
    """The hub reads only variables: :mod:`envdoctor.shellenv` writes them."""
    return None


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """The hub reads only variables: the same ones as the shell files."""
    return env_variables(profile)
