"""The one chunked-body decoder (envdoctor.net.chunked): well-formed bodies however they
are cut, and hostile ones, which end in a ChunkedError or in data within the cap,
never another exception; then through the fetch, against the lab."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envdoctor.net.chunked import (
    SIZE_LINE_BYTES,
    TRAILER_BYTES,
    ChunkedDecoder,
    ChunkedError,
    is_chunked,
)
from envdoctor.net.measure import fetch_with
from envdoctor.net.results import ProbeFailure
from envdoctor.net.session import Session, system_resolver
from tests.mirrorlab import MirrorLab

pytest_plugins = ["tests.mirrorlab"]


def _feed(raw: bytes, limit: int, cuts: list[int] | None = None) -> ChunkedDecoder:
    decoder = ChunkedDecoder(limit)
    start = 0
    for cut in sorted(c % (len(raw) + 1) for c in cuts or []):
        decoder.feed(raw[start:cut])
        start = max(start, cut)
    decoder.feed(raw[start:])
    return decoder


_extension = st.sampled_from([b"", b";a=1", b'; name="q;x"', b";x", b" ;y=2 "])
_trailers = st.lists(st.sampled_from([b"X-A: 1", b"Digest: sha-256=x", b"Expires: 0"]), max_size=3)


@st.composite
def _chunked_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    pieces = draw(st.lists(st.binary(min_size=1, max_size=300), max_size=8))
    lines = []
    for piece in pieces:
        size = f"{len(piece):x}".encode()
        if draw(st.booleans()):
            size = size.upper().rjust(draw(st.integers(len(size), 6)), b"0")
        end = draw(st.sampled_from([b"\r\n", b"\n"]))
        lines.append(size + draw(_extension) + end + piece + b"\r\n")
    trailer = b"".join(line + b"\r\n" for line in draw(_trailers))
    return b"".join(pieces), b"".join(lines) + b"0" + draw(_extension) + b"\r\n" + trailer + b"\r\n"


@given(_chunked_bodies(), st.lists(st.integers(0, 5000), max_size=6), st.integers(1, 3000))
def test_a_well_formed_body_decodes_however_it_is_cut(
    case: tuple[bytes, bytes], cuts: list[int], limit: int
) -> None:
    data, raw = case
    decoder = _feed(raw + b"HTTP/1.1 200 next", limit, cuts)  # what follows is not read
    assert bytes(decoder.data) == data[:limit]
    assert decoder.finished
    assert decoder.done == (len(data) < limit)  # at the cap, reading stops: not done
    assert decoder.full == (len(data) >= limit)


@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=5), st.integers(1, 500))
def test_hostile_input_is_a_chunked_error_or_data_within_the_cap(
    raw: bytes, cuts: list[int], limit: int
) -> None:
    try:
        decoder = _feed(raw, limit, cuts)
    except ChunkedError as error:
        assert str(error)
        return
    assert len(decoder.data) <= limit


@given(st.text(alphabet="0123456789abcdefABCDEFxX+-_ \t;", min_size=0, max_size=24))
def test_a_size_is_hex_digits_only(size: str) -> None:
    digits = size.split(";", 1)[0].strip(" \t")
    well_formed = 0 < len(digits) <= 16 and all(c in "0123456789abcdefABCDEF" for c in digits)
    raw = size.encode() + b"\r\n"
    if well_formed:
        decoder = _feed(raw, 10)
        assert not decoder.data  # int("0x1f", 16) and int("1_0", 16) are not sizes here
    else:
        with pytest.raises(ChunkedError, match="is not a hexadecimal size"):
            _feed(raw, 10)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"zz\r\nhello\r\n0\r\n\r\n", "chunk size 'zz' is not a hexadecimal size"),
        (b"0x5\r\nhello\r\n", "chunk size '0x5' is not a hexadecimal size"),
        (b"-1\r\n", "chunk size '-1' is not a hexadecimal size"),
        (b"\r\n", "chunk size '' is not a hexadecimal size"),
        (b"1" * 17 + b"\r\n", "chunk size '11111111111111111' is not"),
        (b"1" * 30 + b"\r\n", "chunk size '111111111111111111111111...' is not"),
        (b"5\r\nhello world\r\n", "a chunk's data runs on past its size (' world\\r\\n')"),
        (b"1" + b";x" * SIZE_LINE_BYTES, f"a chunk-size line over {SIZE_LINE_BYTES} bytes"),
        (b"0\r\n" + b"X: y\r\n" * TRAILER_BYTES, f"a trailer section over {TRAILER_BYTES} bytes"),
    ],
)
def test_malformed_bodies_are_named(raw: bytes, message: str) -> None:
    with pytest.raises(ChunkedError) as caught:
        _feed(raw, 1024 * 1024)
    assert str(caught.value).startswith(message), caught.value


def test_an_endless_chunk_stops_at_the_cap() -> None:
    decoder = _feed(b"fffffffffffffff\r\n" + b"x" * 5000, 4096)
    assert decoder.full and not decoder.done and len(decoder.data) == 4096


def test_chunked_is_the_last_transfer_coding() -> None:
    assert is_chunked("chunked") and is_chunked("gzip, Chunked ")
    assert not is_chunked("chunked, gzip") and not is_chunked("") and not is_chunked("identity")


def _get(lab: MirrorLab, url: str) -> bytes:
    session = Session("download", 5.0, lab.env, system_resolver, None, ())
    return fetch_with(session)(url, (), None).body


def test_the_fetch_decodes_a_chunked_answer_and_caps_its_decoded_size(
    mirror_lab: MirrorLab,
) -> None:
    base = mirror_lab.add("m")
    mirror_lab.server("m").chunked = True
    document = b'{"a": "' + b"x" * 5000 + b'"}'
    assert _get(mirror_lab, mirror_lab.serve("m", "/api/small", document)) == document
    huge = b"[" + b"1," * 700_000 + b"1]"  # 1.4 MB of JSON, sent in 1000-byte chunks
    body = _get(mirror_lab, mirror_lab.serve("m", "/api/huge", huge))
    assert body == huge[: 1024 * 1024]
    assert base


def test_a_malformed_chunked_answer_is_a_named_failure(mirror_lab: MirrorLab) -> None:
    mirror_lab.add("m")
    server = mirror_lab.server("m")
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    server.files["/bad"] = (200, headers, b"zz\r\n{}\r\n0\r\n\r\n")
    server.files["/cut"] = (200, headers, b"10\r\n{}")
    for path, words in (
        ("/bad", "chunk size 'zz' is not a hexadecimal size"),
        ("/cut", "the answer ends before its last chunk"),
    ):
        with pytest.raises(ProbeFailure) as caught:
            _get(mirror_lab, server.url + path)
        host = server.url.split("//", 1)[1]
        assert caught.value.reason == f"{host} sent a malformed chunked body: {words}"
        assert caught.value.status_code == 200 and caught.value.phase == "body"
