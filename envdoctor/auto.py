"""``--profile auto``: the fastest healthy mirror per target, as a mixed profile.

:func:`pick` is pure: it chooses from measured :class:`~envdoctor.mirrors.Ranking` s.
:func:`build_profile` turns the choice into a :class:`~envdoctor.profiles.Profile` the
apply targets understand, :func:`save_profile` stores it as a user profile (``--save``)
and :func:`auto_profile` does all of it against the real network.

Ties: two mirrors whose scores differ by less than the measurement can tell apart are
equally fast, and the one configured now is kept, so repeated runs do not flip-flop.
The tolerance is the sum of both mirrors' first-byte spreads (``ttfb_max_s -
ttfb_min_s``: when the two first-byte ranges overlap, the medians differ by at most
that much) and :data:`TIE_THROUGHPUT` of the longer download time, but never below
:data:`TIE_FLOOR_S` or :data:`TIE_RELATIVE` of the faster score, as a few samples (and
one throughput download) resolve no finer.

sysctl is left out of the built profile: it is not a mirror, nothing measures it, and
choosing mirrors must not change kernel settings (or need root) as a side effect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from envdoctor import tools
from envdoctor.errors import EnvdoctorError
from envdoctor.mirrors import TARGETS, Entry, Ranking, canonical, gather, measure
from envdoctor.net.ranking import fallback_rate, score
from envdoctor.profiles import (
    Profile,
    get_profile,
    is_profile_name,
    profile_to_toml,
    user_profile_dir,
)

if TYPE_CHECKING:
    from envdoctor.context import Context

TIE_FLOOR_S = 0.002
"""Score differences below this are noise whatever the spread says (2 ms)."""
TIE_RELATIVE = 0.05
"""Score differences below this share of the faster score are noise."""
TIE_THROUGHPUT = 0.15
"""The share of a download's time that one timed window (about a second) cannot resolve:
two mirrors whose transfer times differ by less are equally fast, so the configured one
is kept and a second ``apply --profile auto`` changes nothing."""
HF_UPSTREAM_HOST = "huggingface.co"
_MIRROR_ENV = {"HF_HUB_DISABLE_XET": "1"}
"""What a Hugging Face mirror needs: Xet downloads bypass HF_ENDPOINT (see cn-base)."""


@dataclass(frozen=True)
class TargetChoice:
    """The mirror chosen for one target, and why; ``winner`` None: leave it alone."""

    target: str
    winner: Entry | None
    runner_up: Entry | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "winner": self.winner.to_json() if self.winner else None,
            "runner_up": self.runner_up.to_json() if self.runner_up else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class AutoChoice:
    """One :class:`TargetChoice` per target, in :data:`~envdoctor.mirrors.TARGETS` order."""

    targets: tuple[TargetChoice, ...]
    measured: tuple[Ranking, ...] = field(default=(), compare=False)
    """Every ranking the choice was made from (the report draws them)."""

    def get(self, target: str) -> TargetChoice | None:
        return next((c for c in self.targets if c.target == target), None)

    @property
    def chosen(self) -> tuple[TargetChoice, ...]:
        """The targets that got a mirror."""
        return tuple(c for c in self.targets if c.winner is not None)

    def to_json(self) -> dict[str, Any]:
        return {"targets": [choice.to_json() for choice in self.targets]}


def pick(rankings: Sequence[Ranking], *, targets: Sequence[str] = TARGETS) -> AutoChoice:
    """For each target the healthy mirror with the best :func:`~envdoctor.net.ranking.score`.

    A mirror that failed any sample is unhealthy and never chosen; the upstream is a
    candidate like any other.  Within the tie tolerance (see the module docstring) the
    configured mirror is kept.  A target no candidate answered for gets no winner.
    """
    by_target = {ranking.target: ranking for ranking in rankings}
    chosen = tuple(_pick_one(target, by_target.get(target)) for target in targets)
    return AutoChoice(chosen, tuple(rankings))


def build_profile(
    choice: AutoChoice, *, name: str = "auto", base: Mapping[str, Profile]
) -> Profile:
    """A mixed profile: for each chosen target, the settings of the profile offering the
    winner (from ``base``, name -> profile, as :func:`~envdoctor.profiles.load_profiles`
    gives), else settings built from the winning URL alone.

    Left out, so apply writes nothing for them: targets without a winner, and a winner
    that is only the configured URL with credentials in it (a profile never carries
    them; the tool keeps its configuration as it is).  sysctl is never included.
    ``apply --profile auto`` also drops the winners configured now (:func:`to_apply`).
    """
    settings: dict[str, object] = {}
    for item in choice.chosen:
        assert item.winner is not None  # chosen: every one has a winner
        built = _settings_for(item.target, item.winner, base)
        if built is not None:
            built = _with_probe_image(built, item.winner)
            settings[item.target] = _with_parallel(item.target, built, item.winner)
    hosts = ", ".join(
        f"{c.target}: {_short(c.winner.candidate.url)}"
        for c in choice.chosen
        if c.winner is not None and c.target in settings
    )
    description = f"Fastest healthy mirror per target, measured ({hosts or 'none chosen'})"
    if len(description) > 200:
        description = "Fastest healthy mirror per target, as measured by envdoctor"
    return Profile(
        name=name,
        description=description,
        source=Path(f"{name}.toml"),
        origin="user",
        **settings,  # type: ignore[arg-type]  # keys are target names, values their settings
    )


def to_apply(profile: Profile, choice: AutoChoice) -> Profile:
    """``profile`` without the targets whose winner is what the tool is configured with
    now: keeping it means changing nothing (writing the upstream into a new file, or the
    same mirror again, would change nothing the tool does)."""
    kept = {
        item.target: None
        for item in choice.chosen
        if item.winner is not None and item.winner.candidate.configured
    }
    return dataclasses.replace(profile, **kept)  # type: ignore[arg-type]


def check_save_name(name: str) -> None:
    """Refuse a ``--save`` name that is not a profile name, before anything is measured."""
    if not is_profile_name(name):
        raise EnvdoctorError(
            f"{name!r} is not a profile name",
            "Use lowercase letters, digits and dashes, e.g. office-auto.",
        )


def save_profile(
    ctx: Context,
    profile: Profile,
    name: str,
    *,
    overwrite: bool = False,
    choice: AutoChoice | None = None,
) -> Path:
    """Store ``profile`` as the user profile ``name``; return the file written.

    A shipped profile of that name is overridden, as any user profile does; an existing
    user file is only replaced with ``overwrite``.  The file is written atomically and
    read back through :func:`~envdoctor.profiles.get_profile`; if that fails the previous
    state is restored and the error raised.  ``choice``, the choice ``profile`` was built
    from, words why a profile with no target is not saved.
    """
    check_save_name(name)
    if not profile.targets:
        kept = [item.target for item in choice.chosen] if choice is not None else []
        if kept:  # every winner was left out of the profile: credentials in its URL
            raise EnvdoctorError(
                f"profile {name!r} would configure no target: the fastest mirror of "
                f"{', '.join(kept)} is the configured URL, with credentials in it, and a "
                "profile never holds credentials",
                "Nothing to save: the tools already use that mirror.",
            )
        raise EnvdoctorError(
            f"profile {name!r} would configure no target: no mirror answered",
            "Check the network (envdoctor mirrors) and measure again.",
        )
    from envdoctor.transaction import atomic_write

    path = user_profile_dir(ctx) / f"{name}.toml"
    old = path.read_bytes() if path.exists() else None
    if old is not None and not overwrite:
        raise EnvdoctorError(
            f"user profile {name!r} exists already: {path}",
            "Choose another name, or overwrite it explicitly.",
        )
    named = dataclasses.replace(profile, name=name, source=path, origin="user")
    data = profile_to_toml(named).encode()
    atomic_write(path, data, expected_old=old, mode=0o644)
    try:
        get_profile(ctx, name)
    except EnvdoctorError:
        atomic_write(path, old, expected_old=data)
        raise
    return path


def auto_profile(
    ctx: Context,
    *,
    samples: int = 3,
    timeout: float = 5.0,
    throughput: bool = True,
    include_opt_in: bool = False,
    name: str = "auto",
    targets: Sequence[str] = TARGETS,
    base: Mapping[str, Profile] | None = None,
    pull: tools.PullOptions | None = None,
) -> tuple[Profile, AutoChoice]:
    """Measure the mirrors of every profile (opt-in ones only when asked) and the
    configured ones, pick per target and build the mixed profile called ``name``.

    ``base`` replaces the profiles to draw candidates from (default: every shipped and
    user profile, :func:`~envdoctor.profiles.load_profiles`); ``pull`` is as for
    :func:`~envdoctor.mirrors.measure` (``--image``).
    """
    from envdoctor.profiles import load_profiles
    from envdoctor.tools import configured_mirrors

    profiles = load_profiles(ctx) if base is None else base
    offered = [p for p in profiles.values() if include_opt_in or not p.opt_in]
    candidates = gather(profiles=offered, configured=configured_mirrors(ctx), targets=targets)
    rankings = measure(
        ctx,
        candidates,
        samples=samples,
        timeout=timeout,
        throughput=throughput,
        icmp=False,
        pull=pull,
    )
    choice = pick(rankings, targets=targets)
    return build_profile(choice, name=name, base=profiles), choice


# --- choosing -------------------------------------------------------------------------


def _pick_one(target: str, ranking: Ranking | None) -> TargetChoice:
    if ranking is None or not ranking.entries:
        return TargetChoice(target, None, None, "no candidate answered: nothing to measure")
    healthy = [e for e in ranking.entries if e.measurement.healthy]
    failed = [e for e in ranking.entries if not e.measurement.healthy]
    if not healthy:
        why = "; ".join(f"{e.candidate.url}: {e.measurement.reason}" for e in failed)
        return TargetChoice(target, None, None, f"no candidate answered: {why}")
    healthy, stale_note = _without_stale(healthy)
    fallback = fallback_rate(e.measurement for e in healthy)
    scores = {id(e): score(e.measurement, fallback_bytes_per_s=fallback) for e in healthy}
    scored = [e for e in healthy if scores[id(e)] is not None]
    if not scored:  # healthy but without a first-byte time: cannot happen for "ok"
        return TargetChoice(target, None, None, "no candidate answered: no timing measured")
    # sorted() is stable: equal scores keep the ranking's order.
    ordered = sorted(scored, key=lambda e: scores[id(e)] or 0.0)
    fastest = ordered[0]
    configured = next((e for e in ordered if e.candidate.configured), None)
    tail = stale_note + _failed_note(failed)
    if (
        configured is not None
        and configured is not fastest
        and _tied(fastest, configured, scores[id(fastest)] or 0.0, scores[id(configured)] or 0.0)
    ):
        reason = (
            f"kept the configured mirror {_figures(configured)}: within the spread of the "
            f"fastest, {_figures(fastest)}{tail}"
        )
        return TargetChoice(target, configured, fastest, reason)
    runner_up = ordered[1] if len(ordered) > 1 else None
    lead = "fastest, configured now" if fastest.candidate.configured else "fastest"
    skipped = stale_note.startswith("; skipped")
    alone = "the only one not known to be behind" if skipped else "the only one that answered"
    second = f"runner-up {_figures(runner_up)}" if runner_up else alone
    return TargetChoice(target, fastest, runner_up, f"{lead}: {_figures(fastest)}; {second}{tail}")


STALE_AFTER_S = 24 * 3600.0
"""A mirror known to be further behind than this is not picked while a fresher one
answers (its ``lag_s``: from its content, or from its site's sync status)."""


def _stale(entry: Entry) -> bool:
    lag = entry.measurement.lag_s
    return lag is not None and lag > STALE_AFTER_S


def _without_stale(healthy: list[Entry]) -> tuple[list[Entry], str]:
    """The healthy mirrors not known to be over a day behind, and a note naming the
    skipped ones; when every one is, all of them, with a warning in the note."""
    stale = [e for e in healthy if _stale(e)]
    if not stale:
        return healthy, ""
    named = ", ".join(f"{e.candidate.url}: {_behind(e)}" for e in stale)
    if len(stale) == len(healthy):
        return healthy, f"; warning: every mirror that answered is over a day behind ({named})"
    return [e for e in healthy if not _stale(e)], f"; skipped {named}"


def _behind(entry: Entry) -> str:
    from envdoctor.net.shared import age

    return f"{age(entry.measurement.lag_s or 0.0)} behind"


def _tied(fastest: Entry, other: Entry, fast_score: float, other_score: float) -> bool:
    transfer = max(_transfer_s(fastest, fast_score), _transfer_s(other, other_score))
    spreads = _spread(fastest) + _spread(other) + TIE_THROUGHPUT * transfer
    tolerance = max(spreads, TIE_FLOOR_S, TIE_RELATIVE * fast_score)
    return other_score - fast_score <= tolerance


def _transfer_s(entry: Entry, entry_score: float) -> float:
    """The part of ``entry_score`` that is the download, not the first byte."""
    m = entry.measurement
    return max(0.0, entry_score - (m.ttfb_s or 0.0) - (m.redirect_s or 0.0))


def _spread(entry: Entry) -> float:
    low, high = entry.measurement.ttfb_min_s, entry.measurement.ttfb_max_s
    return high - low if low is not None and high is not None else 0.0


def _figures(entry: Entry) -> str:
    from envdoctor.units import format_rate

    m = entry.measurement
    text = f"{entry.candidate.url}: first byte {_ms(m.ttfb_s)}"
    if m.ttfb_min_s is not None and m.ttfb_max_s is not None and len(m.samples) > 1:
        text += f" ({m.ttfb_min_s * 1000:.0f}-{_ms(m.ttfb_max_s)})"
    if m.throughput_bytes_per_s is not None:
        bound = "at least " if m.throughput_lower_bound else ""
        text += f", {bound}{format_rate(m.throughput_bytes_per_s)}"
    return text


def _ms(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds * 1000:.0f} ms"


def _failed_note(failed: Sequence[Entry]) -> str:
    if not failed:
        return ""
    named = ", ".join(f"{e.candidate.url} ({e.measurement.outcome.value})" for e in failed)
    return f"; not healthy: {named}"


# --- building settings ----------------------------------------------------------------


def _with_parallel(target: str, settings: object, winner: Entry) -> object:
    """``settings`` with the tool's parallel-download knob on (its ``parallel_settings``)
    only where the winner was measured to gain from more connections."""
    from envdoctor.net.parallel import GAIN

    gain = winner.measurement.parallel_gain
    knob = getattr(tools.load(target), "parallel_settings", None)
    if gain is None or gain < GAIN or knob is None:
        return settings
    return knob(settings)


def _with_probe_image(settings: object, winner: Entry) -> object:
    """Registry settings that keep the image the winner was measured with (``--image`` or
    a profile's ``probe-image``), so a later ``check --profile`` asks for the same one; a
    winner measured with the default image keeps none."""
    from envdoctor.tools.docker import DockerSettings
    from envdoctor.tools.oci_mirrors import RegistryMirrors

    image = winner.candidate.probe_image
    if not isinstance(settings, (DockerSettings, RegistryMirrors)):
        return settings
    if settings.probe_image == image:
        return settings
    return dataclasses.replace(settings, probe_image=image)


def _settings_for(target: str, winner: Entry, base: Mapping[str, Profile]) -> object | None:
    url = winner.candidate.url
    for profile_name in winner.candidate.profiles:
        profile = base.get(profile_name)
        offered: object | None = getattr(profile, target, None) if profile else None
        if offered is not None and canonical(target, _primary_url(target, offered)) == url:
            return offered
    if "***" in url:  # masked credentials or a conda channel token: not ours to copy
        return None
    return _settings_from_url(target, url)


def _primary_url(target: str, settings: object) -> str:
    """The URL a target's settings point the tool at first, as gather names it."""
    from envdoctor.tools.docker import DOCKER_HUB

    urls = tools.load(target).endpoints(settings)
    return urls[0] if urls else DOCKER_HUB  # only Docker may name no mirror: Docker Hub


def _settings_from_url(target: str, url: str) -> object:
    from envdoctor.tools.conda import CondaSettings
    from envdoctor.tools.docker import DOCKER_HUB, DockerSettings
    from envdoctor.tools.hf import HfSettings
    from envdoctor.tools.modelscope import ModelscopeSettings
    from envdoctor.tools.pip import PipSettings
    from envdoctor.tools.uv import UvSettings

    http = urlsplit(url).scheme == "http"
    if target == "pip":
        return PipSettings(url, allow_http=http)
    if target == "uv":
        return UvSettings(url, allow_http=http)
    if target == "conda":
        return CondaSettings(base_url=url, channels_url=f"{url}/cloud", allow_http=http)
    if target == "docker":
        mirrors = () if url == DOCKER_HUB else (url,)
        return DockerSettings(mirrors, allow_http=http and bool(mirrors))
    if target == "hf":
        from types import MappingProxyType

        upstream = urlsplit(url).hostname == HF_UPSTREAM_HOST
        env = MappingProxyType({} if upstream else dict(_MIRROR_ENV))
        return HfSettings(url, env, allow_http=http)
    if target == "modelscope":
        return ModelscopeSettings(urlsplit(url).netloc.lower())
    if target in _FROM_URL:
        # These tools build their settings from a measured URL themselves.
        from importlib import import_module

        return import_module(f"envdoctor.tools.{target}").settings_from_url(url)
    raise AssertionError(f"unknown target {target!r}")


_FROM_URL = ("apt", "npm", "go", "cargo", "git")


def _short(url: str) -> str:
    return urlsplit(url).netloc or url
