"""Where conda reads its configuration, and what it really uses.

The search path of ``conda/base/constants.py`` ``SEARCH_PATH`` (system, root prefix,
``$XDG_CONFIG_HOME``, user, ``$CONDARC``, the active environment, ``CONDA_*`` variables)
and the merge rules of ``conda/common/configuration.py``: lists merge with higher files
first, scalars override, ``#!final`` locks a key.  Used by :mod:`envdoctor.tools.conda`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from envdoctor.configfiles import (
    MAX_NESTING,
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    dedupe,
    env_path,
    expanduser,
    expandvars,
    normalise_endpoint,
    read_text,
    strtobool,
    structure_problem,
    unique,
)
from envdoctor.context import Context
from envdoctor.redact import mask_conda_url
from envdoctor.safewrite import resolve_target
from envdoctor.tools import condarc_text
from envdoctor.tools.condarc_judge import MAX_VALUES, TooMany
from envdoctor.tools.condarc_text import CondarcText, Doubt

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

CONDA_DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"


CONDA_DEFAULT_CHANNELS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")


_CONDA_DEFAULT = Source("default", "conda")


# conda/base/constants.py SEARCH_PATH (Linux), lowest priority first.
CONDA_SEARCH_PATH = (
    "/etc/conda/.condarc",
    "/etc/conda/condarc",
    "/etc/conda/condarc.d/",
    "/var/lib/conda/.condarc",
    "/var/lib/conda/condarc",
    "/var/lib/conda/condarc.d/",
    "$CONDA_ROOT/.condarc",
    "$CONDA_ROOT/condarc",
    "$CONDA_ROOT/condarc.d/",
    "$XDG_CONFIG_HOME/conda/.condarc",
    "$XDG_CONFIG_HOME/conda/condarc",
    "$XDG_CONFIG_HOME/conda/condarc.d/",
    "~/.config/conda/.condarc",
    "~/.config/conda/condarc",
    "~/.config/conda/condarc.d/",
    "~/.conda/.condarc",
    "~/.conda/condarc",
    "~/.conda/condarc.d/",
    "~/.condarc",
    "$CONDA_PREFIX/.condarc",
    "$CONDA_PREFIX/condarc",
    "$CONDA_PREFIX/condarc.d/",
    "$CONDARC",
)


_YAML_SUFFIXES = (".yml", ".yaml")


_CondaKind = Literal["seq", "map", "str", "bool"]


# name -> (aliases conda accepts, type, default, default's note)
_CONDA_PARAMETERS: dict[str, tuple[tuple[str, ...], _CondaKind, object, str]] = {
    "channels": (("channels", "channel"), "seq", (), "conda >= 25.9; earlier conda: [defaults]"),
    "default_channels": (("default_channels",), "seq", CONDA_DEFAULT_CHANNELS, "conda"),
    "custom_channels": (
        ("custom_channels",),
        "map",
        {"pkgs/pro": "https://repo.anaconda.com"},
        "conda",
    ),
    "channel_alias": (("channel_alias",), "str", CONDA_DEFAULT_CHANNEL_ALIAS, "conda"),
    "show_channel_urls": (("show_channel_urls",), "bool", None, "conda"),
}

CONDA_FILE_KEYS = frozenset(
    alias for aliases, *_ in _CONDA_PARAMETERS.values() for alias in aliases
)
"""The keys of a file that :func:`resolve_conda` reads, aliases included."""


@dataclass(frozen=True)
class _CondaMatch:
    """One source's value for a parameter, with conda's priority flags."""

    value: object
    source: Source
    final: bool = False
    item_flags: tuple[str | None, ...] = ()
    final_keys: frozenset[str] = frozenset()


def _conda_root(ctx: Context) -> str | None:
    """``CONDA_ROOT``, else from ``CONDA_EXE``, else from the ``conda`` on ``PATH``:
    conda sets ``CONDA_ROOT`` to its own ``sys.prefix`` when it is unset
    (``conda/__init__.py``), the directory above the ``bin/`` (or ``condabin/``) of its
    program, as in an image with only ``/opt/conda/bin`` on ``PATH``."""
    if ctx.env.get("CONDA_ROOT"):
        return ctx.env["CONDA_ROOT"]
    exe = ctx.env.get("CONDA_EXE")
    if exe:
        return str(Path(exe).parent.parent)
    found = ctx.program_path("conda")
    if found is None:
        return None
    program = resolve_target(found, ctx.root)  # /usr/local/bin/conda -> /opt/conda/bin/conda
    if program.parent.name not in ("bin", "condabin"):
        return None
    return str(program.parent.parent)


def conda_expand(ctx: Context, template: str) -> Path | None:
    if template.startswith("/"):
        return ctx.path(template)
    if template.startswith("~/"):
        return ctx.home / template[2:]
    variable, _, rest = template[1:].partition("/")
    value = _conda_root(ctx) if variable == "CONDA_ROOT" else ctx.env.get(variable)
    if not value:
        return None  # conda leaves "$VAR" in the path, which then does not exist
    path = env_path(ctx, expanduser(ctx, value))
    return path / rest if rest else path


def _conda_files(ctx: Context, problems: list[ConfigProblem]) -> list[Path]:
    """conda's ``load_file_configs``: files and ``*.yml``/``*.yaml`` in directories, once each."""
    files: dict[str, Path] = {}
    for template in CONDA_SEARCH_PATH:
        path = conda_expand(ctx, template)
        if path is None:
            continue
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.suffix in _YAML_SUFFIXES and child.is_file():
                    files.setdefault(str(child.absolute()), child)
        elif path.is_file():
            if "condarc" in path.name or path.suffix in _YAML_SUFFIXES:
                files.setdefault(str(path.absolute()), path)
            else:
                problems.append(
                    ConfigProblem(
                        str(path),
                        None,
                        "conda reads $CONDARC only when it is named condarc or ends in .yml/.yaml",
                    )
                )
    return list(files.values())


def _comment_flag(token_list: object, index: int) -> str | None:
    """A ruamel comment token's text (``#!final`` -> ``final``), as conda reads it."""
    try:
        token = cast("list[object]", token_list)[index]
        text = str(getattr(token, "value", "")).strip()
    except (IndexError, TypeError):
        return None
    flag = text.strip("!#").strip()
    return flag if flag in ("final", "top", "bottom") else None


def load_yaml(yaml: YAML, text: str) -> tuple[object, int | None, str | None]:
    """``text`` loaded by ``yaml`` (ruamel, as conda loads it), or the line and reason it
    is refused: invalid YAML, or a tree :func:`~envdoctor.configfiles.structure_problem`
    refuses (nested too deep, aliases expanding beyond reason: the "billion laughs" that
    makes 320 bytes expand to 10^9 values when conda walks them, a lone surrogate).
    A reason that starts with ``refused`` is envdoctor's refusal, not a YAML error."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        return None, line, (exc.problem or exc.context or "invalid YAML").strip()
    except YAMLError as exc:
        return None, None, str(exc)
    except RecursionError:
        return None, None, f"refused: nests lists or mappings more than {MAX_NESTING} deep"
    except NotImplementedError as exc:  # what ruamel.yaml 0.19 raises on some comments,
        # "overlap in comment": conda, which reads with it, fails on the file as well
        return None, None, f"ruamel.yaml fails on it: {str(exc).split(' [', 1)[0]}"
    problem = structure_problem(data)
    if problem is not None:
        return None, None, f"refused: {problem}"
    return data, None, None


# ruamel.yaml is pure Python: it reads about 5 s a MiB and an edit takes about 13 s a MiB.
# A file the text path (condarc_text) is not sure of is given to it only up to this size.
RUAMEL_MAX_BYTES = 32 * 1024
_DOUBT_LINE = re.compile(r"line (\d+)")


def ruamel_refusal(text: str, doubt: Doubt) -> tuple[int | None, str] | None:
    """The line and why ``text``, which :mod:`condarc_text` doubted, is too big for
    ruamel.yaml (more than :data:`RUAMEL_MAX_BYTES`); None when it is not."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= RUAMEL_MAX_BYTES:
        return None
    if isinstance(doubt, TooMany):
        return None, (
            f"refused: more than {MAX_VALUES:,} YAML values ({size:,} bytes), more than "
            "envdoctor checks in a second (conda too takes seconds to read them)"
        )
    where = _DOUBT_LINE.match(str(doubt))  # the doubt's own words may quote a secret
    return int(where.group(1)) if where else None, (
        f"refused: {size:,} bytes of YAML beyond plain keys, lists and mappings (anchors, "
        "flow style, block scalars...), which envdoctor reads with ruamel.yaml only up to "
        f"{RUAMEL_MAX_BYTES // 1024} KiB (it takes seconds a MiB)"
    )


def read_plain(text: str) -> CondarcText:
    """``text`` read as :mod:`condarc_text` reads it, with a BOM and CRLF endings taken
    off first; :class:`Doubt` when it is not sure of the file."""
    return condarc_text.read_judged(
        text.removeprefix("\ufeff").replace("\r\n", "\n"), CONDA_FILE_KEYS
    )


def _conda_load_file(
    path: Path, problems: list[ConfigProblem]
) -> CommentedMap | CondarcText | None:
    text = read_text(path, problems)
    if text is None:
        return None
    try:
        return read_plain(text)  # libyaml-fast, and judged; ruamel.yaml takes 5 s a MiB
    except Doubt as doubt:
        refusal = ruamel_refusal(text, doubt)
    if refusal is not None:
        problems.append(
            ConfigProblem(str(path), refusal[0], f"{refusal[1]}: envdoctor does not read it")
        )
        return None
    from ruamel.yaml import YAML  # 25 ms to import: only for a file the text path doubts
    from ruamel.yaml.comments import CommentedMap

    data, line, reason = load_yaml(YAML(typ="rt"), text)
    if reason is not None:
        message = (
            f"{reason}: envdoctor does not read it"
            if reason.startswith("refused")
            else f"invalid YAML ({reason}): conda stops"
        )
        problems.append(ConfigProblem(str(path), line, message))
        return None
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        problems.append(
            ConfigProblem(str(path), 1, "is not a YAML mapping of settings: conda stops")
        )
        return None
    return data


def _conda_file_match(
    path: Path, data: CommentedMap | CondarcText, name: str, problems: list[ConfigProblem]
) -> _CondaMatch | None:
    aliases, kind, _, _ = _CONDA_PARAMETERS[name]
    present = [alias for alias in aliases if alias in data]
    if not present:
        return None
    if len(present) > 1:
        problems.append(
            ConfigProblem(str(path), None, f"both {' and '.join(present)} are set: conda stops")
        )
    key = present[0]
    source = Source("file", str(path), key)
    if isinstance(data, CondarcText):  # read as text: the same values and flags
        raw = data.value(key)
        final = data.key_flag(key) == "final"
        line: int | None = data.line(key)
    else:
        raw = data[key]
        final = _comment_flag(data.ca.items.get(key), 2) == "final"
        line = _yaml_line(data, key)
    if raw is None and kind in ("seq", "map"):
        # conda's SequenceParameter and MapParameter drop a match whose value is empty
        # (``channels: ~``, a bare ``channels:``) before merging, #!final flag and all.
        return None
    if kind == "seq":
        if not isinstance(raw, list):
            problems.append(ConfigProblem(str(path), line, f"{key} must be a list: conda stops"))
            return None
        flags: tuple[str | None, ...] = ()
        if isinstance(data, CondarcText):
            flags = data.item_flags(key)
        else:
            from ruamel.yaml.comments import CommentedSeq  # read by ruamel.yaml: imported

            if isinstance(raw, CommentedSeq):
                flags = tuple(_comment_flag(raw.ca.items.get(i), 0) for i in range(len(raw)))
        return _CondaMatch(tuple(str(item) for item in raw), source, final, flags)
    if kind == "map":
        if not isinstance(raw, dict):
            problems.append(ConfigProblem(str(path), line, f"{key} must be a mapping: conda stops"))
            return None
        final_keys: frozenset[str] = frozenset()
        if isinstance(data, CondarcText):
            final_keys = data.final_keys(key)
        else:
            from ruamel.yaml.comments import CommentedMap  # read by ruamel.yaml: imported

            if isinstance(raw, CommentedMap):
                final_keys = frozenset(
                    str(k) for k in raw if _comment_flag(raw.ca.items.get(k), 2) == "final"
                )
        return _CondaMatch({str(k): str(v) for k, v in raw.items()}, source, final, (), final_keys)
    if kind == "bool":
        if raw is None or isinstance(raw, bool):
            return _CondaMatch(raw, source, final)
        flag = strtobool(str(raw))
        if flag is None:
            problems.append(
                ConfigProblem(str(path), line, f"{key} must be true or false: conda stops")
            )
            return None
        return _CondaMatch(flag, source, final)
    if raw is None:
        return None
    return _CondaMatch(str(raw), source, final)


def _yaml_line(data: CommentedMap, key: str) -> int | None:
    try:
        return int(data.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _conda_env_match(ctx: Context, name: str, problems: list[ConfigProblem]) -> _CondaMatch | None:
    """``CONDA_<NAME>``: lists split on commas, ``!important`` marks the value final."""
    aliases, kind, _, _ = _CONDA_PARAMETERS[name]
    if kind == "map":
        return None  # conda reads only flat values from the environment
    for alias in aliases:
        variable = f"CONDA_{alias.upper()}"
        raw = ctx.env.get(variable)
        if raw is None:
            continue
        source = Source("env", variable)
        final = "!important" in raw
        if kind == "seq":
            items = tuple(item.strip() for item in raw.split(",") if item.strip())
            return _CondaMatch(items, source, final)
        text = raw.split("!important")[0].strip()
        if kind == "bool":
            lowered = text.lower()
            if lowered in ("none", "null", "~", ""):
                return _CondaMatch(None, source, final)
            flag = strtobool(lowered)
            if flag is None:
                problems.append(
                    ConfigProblem(f"${variable}", None, "is not a boolean: conda stops")
                )
                return None
            return _CondaMatch(flag, source, final)
        return _CondaMatch(text, source, final)
    return None


def _relevant(matches: list[_CondaMatch]) -> list[_CondaMatch]:
    """Matches up to and including the first one marked final (``_first_important_matches``)."""
    for index, match in enumerate(matches):
        if match.final:
            return matches[: index + 1]
    return matches


def _conda_merge_seq(matches: list[_CondaMatch]) -> tuple[str, ...]:
    """``SequenceLoadedParameter.merge``: higher files first, ``#!top``/``#!bottom`` honoured."""

    def lines(match: _CondaMatch, flag: str) -> list[str]:
        values = cast("tuple[str, ...]", match.value)
        return [v for v, f in zip(values, match.item_flags, strict=False) if f == flag]

    top = [line for m in matches for line in lines(m, "top")]
    bottom = [line for m in reversed(matches) for line in lines(m, "bottom")]
    everything = [v for m in reversed(matches) for v in cast("tuple[str, ...]", m.value)]
    top_deduped = unique([*top, *everything])
    bottom_deduped = unique([*reversed(bottom), *reversed(top_deduped)])
    return tuple(reversed(bottom_deduped))


def _conda_merge_map(matches: list[_CondaMatch]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for match in matches:
        merged.update(cast("dict[str, str]", match.value))
    final: dict[str, str] = {}
    for match in reversed(matches):
        values = cast("dict[str, str]", match.value)
        final.update({k: values[k] for k in match.final_keys})
    return {**merged, **final}


def _conda_display(kind: _CondaKind, value: object, ctx: Context) -> object:
    """Expand ``$VARS`` as conda does for channel settings, then mask credentials."""

    def shown(text: str) -> str:
        # only a "$" expands and only an "@" or a "/t/" is masked: thousands of
        # custom_channels entries are shown without a regex each
        if "$" in text:
            text = expandvars(text, ctx.env)
        return mask_conda_url(text) if "@" in text or "/t/" in text else text

    if kind == "seq":
        return tuple(shown(v) for v in cast("tuple[str, ...]", value))
    if kind == "map":
        return {k: shown(v) for k, v in cast("dict[str, str]", value).items()}
    if kind == "str":
        return shown(cast("str", value))
    return value


def resolve_conda(ctx: Context, parsed: Mapping[Path, CondarcText] | None = None) -> ToolConfig:
    """conda's channels, default_channels, custom_channels, channel_alias, show_channel_urls.

    Files come from conda's ``SEARCH_PATH``, then ``CONDA_*`` variables.  Lists merge with
    the higher-priority source first and duplicates dropped; mappings merge key by key;
    scalars take the highest source.  A key commented ``#!final`` stops higher sources.
    ``parsed``: files already read (by :mod:`~envdoctor.tools.condarc_text`, which reads
    what ruamel.yaml reads), used instead of reading them again.
    """
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    loaded: list[tuple[Path, CommentedMap | CondarcText]] = []
    known = {str(path.absolute()): text for path, text in (parsed or {}).items()}
    for path in _conda_files(ctx, problems):
        data: CommentedMap | CondarcText | None = known.get(str(path.absolute()))
        if data is None:
            data = _conda_load_file(path, problems)
        files_read.append(str(path))
        if data is not None:
            loaded.append((path, data))
    settings: dict[str, Setting] = {}
    for name, (_, kind, default, note) in _CONDA_PARAMETERS.items():
        matches = [
            match
            for path, data in loaded
            if (match := _conda_file_match(path, data, name, problems)) is not None
        ]
        env_match = _conda_env_match(ctx, name, problems)
        if env_match is not None:
            matches.append(env_match)
        default_item = (default, Source("default", note))
        if not matches:
            settings[name] = Setting(name, default, default_item[1])
            continue
        relevant = _relevant(matches)
        ignored = [(_conda_display(kind, m.value, ctx), m.source) for m in matches[len(relevant) :]]
        winner, lower = relevant[-1], relevant[:-1]
        value: object = winner.value
        if kind == "seq":
            value = _conda_merge_seq(relevant)
        elif kind == "map":
            value = _conda_merge_map(relevant)
        shadowed = (
            default_item,
            *((_conda_display(kind, m.value, ctx), m.source) for m in lower),
            *ignored,
        )
        settings[name] = Setting(name, _conda_display(kind, value, ctx), winner.source, shadowed)
    return ToolConfig("conda", settings, dedupe(problems), files_read)


def conda_base(default_channels: Sequence[str], channel_alias: str) -> str:
    """The mirror base behind ``default_channels``: its ``pkgs/main`` entry less ``/pkgs/main``,
    masked (:func:`~envdoctor.configfiles.normalise_endpoint`).

    Names without a scheme are resolved against ``channel_alias`` as conda does.
    """
    return normalise_endpoint(conda_base_as_written(default_channels, channel_alias))


def conda_base_as_written(default_channels: Sequence[str], channel_alias: str) -> str:
    """:func:`conda_base`, with the credentials and channel token it is written with:
    for the requests, never to show."""
    urls = [
        channel if "://" in channel else f"{channel_alias.rstrip('/')}/{channel}"
        for channel in default_channels or CONDA_DEFAULT_CHANNELS
    ]
    for url in urls:
        stripped = url.strip().rstrip("/")
        if stripped.endswith("/pkgs/main"):
            return stripped[: -len("/pkgs/main")]
    for url in urls:
        base = re.sub(r"/pkgs/[^/]+/?$", "", url.strip())
        if base != url.strip():
            return base.rstrip("/")
    return urls[0].strip().rstrip("/")
