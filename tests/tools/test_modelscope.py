"""ModelScope: both variables the installed SDKs read, and the check when they disagree."""

from __future__ import annotations

from pathlib import Path

from envdoctor.checkup import Checkup, LoginEnv, Remedies
from envdoctor.context import Context
from envdoctor.profiles import get_profile
from envdoctor.tools import modelscope


def row(tmp_path: Path, env: dict[str, str]):
    ctx = Context.for_root(tmp_path, env=env)
    config = modelscope.resolve(ctx)
    checkup = Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    return modelscope.diagnose(ctx, {"modelscope": config}, checkup)


def test_profiles_write_the_domain_and_the_endpoint(tmp_path: Path) -> None:
    ctx = Context.for_root(tmp_path)
    assert modelscope.env_variables(get_profile(ctx, "global")) == [
        ("MODELSCOPE_DOMAIN", "www.modelscope.cn"),
        ("MODELSCOPE_ENDPOINT", "https://www.modelscope.cn"),
    ]


def test_endpoint_and_domain_that_disagree_warn(tmp_path: Path) -> None:
    result = row(
        tmp_path,
        {"MODELSCOPE_DOMAIN": "ms.mirror.example", "MODELSCOPE_ENDPOINT": "https://other.example"},
    ).result(False)
    assert result.status.value == "warn"
    assert (
        "disagree: modelscope_hub (HubApi) uses the endpoint"
        in result.details["findings"][0]["message"]
    )


def test_endpoint_and_domain_that_agree_are_fine(tmp_path: Path) -> None:
    result = row(
        tmp_path,
        {
            "MODELSCOPE_DOMAIN": "ms.mirror.example",
            "MODELSCOPE_ENDPOINT": "https://ms.mirror.example/",
        },
    ).result(False)
    assert result.status.value == "ok", result.details
