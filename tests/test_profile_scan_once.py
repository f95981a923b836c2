"""``--profile a,b,c`` reads the profile files once, not once per name."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor import profiles
from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.profile_checks import ProfileError


def test_several_profiles_come_from_one_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = Context.for_root(tmp_path)
    scans: list[int] = []
    real = profiles.scan_profiles

    def counted(context: Context) -> profiles.ProfileScan:
        scans.append(1)
        return real(context)

    monkeypatch.setattr(profiles, "scan_profiles", counted)
    names = ["cn-tsinghua", "cn-ustc", "cn-aliyun", "global"]
    chosen = profiles.get_profiles(ctx, names)
    assert [profile.name for profile in chosen] == names
    assert len(scans) == 1
    with pytest.raises(ProfileError, match="no profile named"):
        profiles.get_profiles(ctx, ["cn-ustc", "nonesuch"])


def test_mirrors_with_three_profiles_scans_once(monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[int] = []
    real = profiles.scan_profiles

    def counted(context: Context) -> profiles.ProfileScan:
        scans.append(1)
        return real(context)

    monkeypatch.setattr(profiles, "scan_profiles", counted)
    result = CliRunner().invoke(
        cli,
        ["mirrors", "--target", "pip", "--profile", "cn-tsinghua,cn-ustc,nonesuch", "--json"],
    )
    assert result.exit_code == 2, result.output
    assert len(scans) == 1
