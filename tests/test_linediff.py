"""envdoctor.linediff: unified diffs that stay fast on a 1 MiB file and are still right."""

from __future__ import annotations

import difflib
import random
import re
import time

import pytest

from envdoctor import linediff

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def patch(a: list[str], diff: list[str]) -> list[str]:
    """``a`` with a unified diff's hunks applied, checking every context and removed line."""
    out: list[str] = []
    at = 0
    for line in diff[2:]:
        hunk = _HUNK.fullmatch(line)
        if hunk is not None:
            start = int(hunk.group(1)) - (0 if hunk.group(2) == "0" else 1)
            assert start >= at, "hunks overlap or go backwards"
            out += a[at:start]
            at = start
            continue
        sign, text = line[0], line[1:]
        if sign in " -":
            assert a[at] == text, f"line {at + 1} is not what the diff says"
            at += 1
        if sign in " +":
            out.append(text)
    return out + a[at:]


def edits(rng: random.Random, lines: list[str], alphabet: list[str]) -> list[str]:
    new = list(lines)
    for _ in range(rng.randint(0, 6)):
        op = rng.random()
        if op < 0.4 and new:
            del new[rng.randrange(len(new))]
        elif op < 0.8:
            new.insert(rng.randint(0, len(new)), rng.choice([*alphabet, "new\n"]))
        elif new:
            new[rng.randrange(len(new))] = "changed\n"
    return new


@pytest.mark.parametrize("seed", range(40))
def test_the_diff_turns_the_old_lines_into_the_new(seed):
    rng = random.Random(seed)
    for _ in range(50):
        alphabet = [f"line {n}\n" for n in range(rng.randint(1, 12))]
        a = [rng.choice(alphabet) for _ in range(rng.randint(0, 40))]
        b = edits(rng, a, alphabet)
        diff = list(linediff.unified_diff(a, b, "a/f", "b/f"))
        assert (diff == []) == (a == b)
        if diff:
            assert diff[:2] == ["--- a/f", "+++ b/f"]
            assert patch(a, diff) == b
        for i, j, n in linediff.matching_blocks(a, b):
            assert a[i : i + n] == b[j : j + n]


def test_big_files_with_repeated_lines_go_through_the_anchors_and_stay_right():
    rng = random.Random(7)
    a = [f"[s{n}]\n" if n % 4 == 0 else "same = 1\n" for n in range(12_000)]
    b = list(a)
    for _ in range(30):  # scattered edits: the middle left after the head and tail is big
        b.insert(rng.randrange(len(b)), f"added {rng.random()}\n")
        del b[rng.randrange(len(b))]
    diff = list(linediff.unified_diff(a, b, "a/f", "b/f"))
    assert patch(a, diff) == b


def test_it_writes_what_difflib_writes_for_one_change_in_a_big_file():
    a = [f"key{n} = {n}\n" for n in range(50_000)]
    b = [*a[:10], "index-url = https://mirror.example/simple\n", *a[11:], "[extra]\n"]
    ours = list(linediff.unified_diff(a, b, "a/pip.conf", "b/pip.conf"))
    theirs = list(difflib.unified_diff(a, b, "a/pip.conf", "b/pip.conf", lineterm=""))
    assert ours == theirs


def test_a_sources_list_with_every_entry_moved_diffs_in_a_second_not_forty():
    # difflib took 39 s on the 1 MiB sources.list of benchmarks/apply_large_inputs.py: every
    # other line becomes the same mirror line, which its matcher handles worst
    a = [
        line
        for n in range(9_000)
        for line in (
            f"# deb http://deb.debian.org/debian bookworm-{n} main\n",
            f"deb [arch=amd64] https://repo{n}.example/debian bookworm main\n",
        )
    ]
    mirror = "deb [arch=amd64] https://mirror.example/debian bookworm main\n"
    b = [mirror if line.startswith("deb ") else line for line in a]
    started = time.process_time()
    diff = list(linediff.unified_diff(a, b, "a/l", "b/l"))
    assert time.process_time() - started < 5  # 0.2 s measured
    assert patch(a, diff) == b
    assert sum(line.startswith("-deb ") for line in diff) == 9_000
