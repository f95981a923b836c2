"""envdoctor.net.head reads header fields as http.client (and so pip and requests) does:
every case is judged by http.client.parse_headers on the same bytes."""

from __future__ import annotations

import http.client
import io
import random

import pytest

from envdoctor.net.head import MAX_HEADER_LINES, Headers, HeadTooLarge, parse_fields


def _theirs(raw: bytes) -> list[tuple[str, str]] | str:
    try:
        message = http.client.parse_headers(io.BytesIO(raw))
    except http.client.HTTPException as exc:
        return "lines" if "headers" in str(exc) else "long"
    return list(message.items())


def _ours(raw: bytes) -> list[tuple[str, str]] | str:
    try:
        headers = parse_fields(raw)
    except HeadTooLarge as exc:
        return "lines" if "lines" in exc.what else "long"
    return headers.items()


CASES = [
    b"\r\n",
    b"Content-Type: text/html\r\nContent-Length: 12\r\n\r\n",
    b"X-Empty:\r\nX-Spaces:   \t a b  \r\n\r\n",
    b"Folded: one\r\n two\r\n\tthree\r\nNext: 1\r\n\r\n",
    b" leading-continuation\r\nA: 1\r\n\r\n",
    b"A: 1\r\nnot a field\r\nB: 2\r\n\r\n",
    b"A: 1\r\nName With Space: 2\r\nB: 3\r\n\r\n",
    b"From somebody\r\nA: 1\r\n\r\n",
    b"A: 1\r\nFrom somebody\r\n cont\r\nB: 2\r\n\r\n",
    b":empty-name\r\n cont\r\nA: 1\r\n\r\n",
    b"A: 1\rB: 2\r\n\r\n",
    b"A: 1\nB: 2\n\r\n",
    b"Latin: caf\xe9 \xff\r\n\r\n",
    b"Dup: 1\r\ndup: 2\r\nDUP: 3\r\n\r\n",
    b"A: x:y:z\r\n\r\n",
    b"A:no-space\r\n\r\n",
    b"A: 1",
    b"A: 1\r\n",
    b"A: 1\r\n b",
    b"A: 1\r\n\r\nB: after the blank line\r\n\r\n",
    b"A\x7f: 1\r\nB: 2\r\n\r\n",
    b"A: 1\r\n\x00B: 2\r\n\r\n",
    b"A: " + b"x" * 65530 + b"\r\n\r\n",
    b"A: " + b"x" * 65531 + b"\r\n\r\n",
    b"A: " + b"x" * 65532 + b"\r\n\r\n",
    b"".join(b"H%d: v\r\n" % n for n in range(MAX_HEADER_LINES - 1)) + b"\r\n",
    b"".join(b"H%d: v\r\n" % n for n in range(MAX_HEADER_LINES)) + b"\r\n",
    b"".join(b"H%d: v\r\n" % n for n in range(MAX_HEADER_LINES - 1)),
    b"".join(b"H%d: v\r\n" % n for n in range(MAX_HEADER_LINES - 2)),
]


@pytest.mark.parametrize("raw", CASES, ids=range(len(CASES)))
def test_the_fields_are_http_clients(raw: bytes) -> None:
    assert _ours(raw) == _theirs(raw)


def test_random_heads_read_as_http_client_reads_them() -> None:
    """Lines drawn from the pieces that change how a head is read: folds, bare CRs and
    LFs, spaces and colons in names, From lines, bytes over 0x7f, blank lines early."""
    pieces = [
        b"A",
        b"b-c",
        b":",
        b": ",
        b" ",
        b"\t",
        b"\r\n",
        b"\r",
        b"\n",
        b"From ",
        b"v",
        b"\xe9",
        b"x:y",
        b"Content-Length: 5\r\n",
    ]
    chooser = random.Random(20261201)
    for _ in range(3000):
        raw = b"".join(chooser.choice(pieces) for _ in range(chooser.randint(0, 14)))
        raw += chooser.choice([b"\r\n\r\n", b"\r\n", b""])
        assert _ours(raw) == _theirs(raw), raw


def test_get_gives_the_first_value_of_a_name_in_any_case() -> None:
    headers = parse_fields(b"Location: /one\r\nlocation: /two\r\n\r\n")
    theirs = http.client.parse_headers(io.BytesIO(b"Location: /one\r\nlocation: /two\r\n\r\n"))
    assert headers.get("LOCATION") == theirs.get("LOCATION") == "/one"
    assert headers.get("Missing") is None
    assert headers.get("Missing", "") == ""
    assert "location" in headers and "Missing" not in headers
    assert list(headers) == ["Location", "location"] and len(headers) == 2


def test_headers_from_fields_keep_their_order() -> None:
    headers = Headers([("B", "2"), ("A", "1")])
    assert headers.items() == [("B", "2"), ("A", "1")]
