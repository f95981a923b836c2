"""A unified diff of two lists of lines in time close to linear for the edits envdoctor
makes: a few changed lines in a file of tens of thousands.

:func:`difflib.unified_diff` matches the whole of both files (0.2 s for a 1 MiB
``pip.conf`` of 75,000 lines, for a one-line change).  Here the lines both files start
and end with are matched first; what is left, when large, is cut at the lines that occur
once in each side, in the same order (the longest increasing run of them: "patience"
diff's anchors), and only the gaps between those go to difflib's matcher.  The hunks are
then grouped and written as difflib groups and writes them (same context, same ``@@``
ranges, same ``---``/``+++`` lines), though they may pair lines differently from
difflib's where a change could be shown two ways.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from collections.abc import Iterator, Sequence

# Below this many lines on both sides, difflib matches a gap on its own.
_SMALL = 2000


class _Matcher(difflib.SequenceMatcher):  # type: ignore[type-arg]
    """difflib's grouping of opcodes, over :func:`matching_blocks`."""

    a: Sequence[str]
    b: Sequence[str]
    matching_blocks: list[difflib.Match] | None
    opcodes: list[tuple[str, int, int, int, int]] | None

    def set_seq2(self, b: Sequence[str]) -> None:
        # difflib indexes every line of b here, for its own matching: not needed
        self.b = b
        self.matching_blocks = self.opcodes = None

    def get_matching_blocks(self) -> list[difflib.Match]:
        if self.matching_blocks is None:
            self.matching_blocks = [
                difflib.Match(*block) for block in matching_blocks(self.a, self.b)
            ]
        return self.matching_blocks


def matching_blocks(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int]]:
    """``(i, j, n)`` triples, as :meth:`difflib.SequenceMatcher.get_matching_blocks`
    returns them: ``a[i:i+n] == b[j:j+n]``, increasing in ``i`` and ``j``, adjacent
    blocks merged, ending with ``(len(a), len(b), 0)``."""
    found: list[tuple[int, int, int]] = []
    _match(a, b, 0, len(a), 0, len(b), found)
    merged: list[tuple[int, int, int]] = []
    for i, j, n in sorted(found):
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + n)
        elif n:
            merged.append((i, j, n))
    merged.append((len(a), len(b), 0))
    return merged


def _match(
    a: Sequence[str],
    b: Sequence[str],
    alo: int,
    ahi: int,
    blo: int,
    bhi: int,
    found: list[tuple[int, int, int]],
) -> None:
    head = 0
    while alo + head < ahi and blo + head < bhi and a[alo + head] == b[blo + head]:
        head += 1
    if head:
        found.append((alo, blo, head))
        alo, blo = alo + head, blo + head
    tail = 0
    while ahi - tail > alo and bhi - tail > blo and a[ahi - tail - 1] == b[bhi - tail - 1]:
        tail += 1
    if tail:
        found.append((ahi - tail, bhi - tail, tail))
        ahi, bhi = ahi - tail, bhi - tail
    if alo == ahi or blo == bhi:
        return
    anchors = (
        [] if ahi - alo <= _SMALL and bhi - blo <= _SMALL else _anchors(a, b, alo, ahi, blo, bhi)
    )
    if not anchors:
        matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=ahi - alo > _SMALL)
        found.extend((alo + i, blo + j, n) for i, j, n in matcher.get_matching_blocks() if n)
        return
    for i, j in anchors:
        _match(a, b, alo, i, blo, j, found)
        found.append((i, j, 1))
        alo, blo = i + 1, j + 1
    _match(a, b, alo, ahi, blo, bhi, found)


def _anchors(
    a: Sequence[str], b: Sequence[str], alo: int, ahi: int, blo: int, bhi: int
) -> list[tuple[int, int]]:
    """The longest run of lines that occur once in ``a[alo:ahi]`` and once in
    ``b[blo:bhi]``, increasing in both: ``(i, j)`` pairs."""
    in_a = Counter(a[alo:ahi])
    in_b = Counter(b[blo:bhi])
    where_b = {b[j]: j for j in range(blo, bhi) if in_b[b[j]] == 1}
    pairs = [(i, where_b[a[i]]) for i in range(alo, ahi) if in_a[a[i]] == 1 and a[i] in where_b]
    # patience sorting: tails[k] is the smallest j ending an increasing run of k + 1 pairs
    tails: list[int] = []
    ends: list[int] = []  # the index in pairs of each tail
    before: list[int] = []  # for each pair, the index of the pair before it in its run
    for index, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            ends.append(index)
        else:
            tails[k] = j
            ends[k] = index
        before.append(ends[k - 1] if k else -1)
    run: list[tuple[int, int]] = []
    index = ends[-1] if ends else -1
    while index >= 0:
        run.append(pairs[index])
        index = before[index]
    return run[::-1]


def unified_diff(
    a: Sequence[str], b: Sequence[str], fromfile: str, tofile: str, n: int = 3
) -> Iterator[str]:
    """What ``difflib.unified_diff(a, b, fromfile, tofile, n=n, lineterm="")`` yields."""
    started = False
    for group in _Matcher(None, a, b, autojunk=False).get_grouped_opcodes(n):
        if not started:
            started = True
            yield f"--- {fromfile}"
            yield f"+++ {tofile}"
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in a[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + line for line in a[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + line for line in b[j1:j2])


def _range(start: int, stop: int) -> str:
    """A ``@@`` range as difflib writes it (``_format_range_unified``)."""
    beginning, length = start + 1, stop - start
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"
