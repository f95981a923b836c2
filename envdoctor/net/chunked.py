"""``Transfer-Encoding: chunked`` (RFC 9112, section 7.1) decoded as the bytes arrive: the
one decoder of the answers envdoctor reads in full (a pull step's JSON or page, a site's
sync status), which nginx and most proxies send chunked when the answer is made on the
fly (an API, a generated index page).

A hostile or broken server cannot make it grow without bound or raise anything but
:class:`ChunkedError`: a chunk-size line, a size and the trailer section are bounded, and
the decoded data stops at the caller's limit.
"""

from __future__ import annotations

import re

SIZE_LINE_BYTES = 4096
"""A chunk-size line (the size and its extensions) longer than this is malformed; nginx
refuses far shorter ones."""

SIZE_DIGITS = 16
"""At most this many hex digits in a chunk size (16 digits: 2**64 - 1, more than any body)."""

TRAILER_BYTES = 64 * 1024
"""The trailer section after the last chunk, all its lines together, is at most this long."""

_SIZE = re.compile(rb"[0-9A-Fa-f]{1,%d}" % SIZE_DIGITS)


class ChunkedError(ValueError):
    """The body is not a well-formed chunked body; the message says what, in plain words."""


def is_chunked(transfer_encoding: str) -> bool:
    """A ``Transfer-Encoding`` value whose last coding is ``chunked`` (RFC 9112, 6.3: then
    the body is chunked whatever ``Content-Length`` says)."""
    codings = [coding.strip().lower() for coding in transfer_encoding.split(",")]
    return bool(codings) and codings[-1] == "chunked"


def _shown(raw: bytes) -> str:
    text = raw[:24].decode("latin-1")
    return ascii(text + ("..." if len(raw) > 24 else ""))


class ChunkedDecoder:
    """Feed it the raw body as it arrives (:meth:`feed`); :attr:`data` is the decoded
    body, at most ``limit`` bytes; :attr:`done` once the last chunk and the trailers are
    read; :attr:`finished` when reading may stop (done, or ``limit`` reached)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.done = False
        self._pending = bytearray()
        self._state = "size"  # size -> data -> data-end -> size ... -> trailer -> done
        self._left = 0
        self._trailer = 0

    @property
    def full(self) -> bool:
        return len(self.data) >= self.limit

    @property
    def finished(self) -> bool:
        return self.done or self.full

    def feed(self, raw: bytes) -> None:
        """Decode the next bytes of the body; :class:`ChunkedError` at the first that does
        not parse.  Bytes past the end of the body, or past ``limit``, are dropped."""
        if self.finished:
            return
        self._pending += raw
        while not self.finished:
            if not self._step():
                break  # more bytes are needed

    def _step(self) -> bool:
        """One piece of the body from what is pending; False when more bytes are needed."""
        pending = self._pending
        if self._state == "data":
            take = min(self._left, len(pending))
            if take == 0:
                return False
            self.data += pending[: min(take, self.limit - len(self.data))]
            del pending[:take]
            self._left -= take
            if self._left == 0:
                self._state = "data-end"
            return True
        if self._state == "data-end":
            if bytes(pending[:2]) in (b"", b"\r"):
                return False
            if not pending.startswith((b"\r\n", b"\n")):
                shown = _shown(bytes(pending))
                raise ChunkedError(f"a chunk's data runs on past its size ({shown})")
            del pending[: 2 if pending.startswith(b"\r\n") else 1]
            self._state = "size"
            return True
        bound = SIZE_LINE_BYTES if self._state == "size" else TRAILER_BYTES - self._trailer
        line = self._line(bound)
        if line is None:
            return False
        if self._state == "size":
            self._left = self._size(line)
            self._state = "data" if self._left else "trailer"
            return True
        self._trailer += len(line) + 2
        if not line:
            self._state = "done"
            self.done = True
        return True

    def _line(self, bound: int) -> bytes | None:
        """The next line (CRLF, or a bare LF as RFC 9112 lets a recipient accept), without
        its end; None while it is incomplete."""
        end = self._pending.find(b"\n", 0, bound + 1)
        if end < 0:
            if len(self._pending) > bound:
                if self._state == "size":
                    raise ChunkedError(f"a chunk-size line over {SIZE_LINE_BYTES} bytes")
                raise ChunkedError(f"a trailer section over {TRAILER_BYTES} bytes")
            return None
        line = bytes(self._pending[:end]).removesuffix(b"\r")
        del self._pending[: end + 1]
        return line

    @staticmethod
    def _size(line: bytes) -> int:
        """The chunk size of a chunk-size line, extensions (``;name=value``) ignored."""
        digits = line.split(b";", 1)[0].strip(b" \t")
        if _SIZE.fullmatch(digits) is None:
            raise ChunkedError(f"chunk size {_shown(digits)} is not a hexadecimal size")
        return int(digits, 16)
