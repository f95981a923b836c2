"""The loopback lab itself: closing it wakes and ends every connection's thread."""

from __future__ import annotations

import socket
import threading
import time

from tests.mirrorlab import LabPKI, MirrorLab


def _lab_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("lab-")]


def test_close_ends_a_connection_stuck_in_its_tls_handshake(lab_pki: LabPKI) -> None:
    # A client that connects and never says hello leaves the server's thread waiting in
    # the TLS handshake (10 s timeout).  close() must wake it through the socket it
    # tracks (shut down, not closed under it: the thread closes its own socket).
    before = set(_lab_threads())
    lab = MirrorLab(lab_pki)
    url = lab.add("quiet")
    port = int(url.rsplit(":", 1)[1])
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        until = time.monotonic() + 5
        while lab.server("quiet").open_connections() == 0 and time.monotonic() < until:
            time.sleep(0.01)
        started = time.monotonic()
        lab.close()
        took = time.monotonic() - started
        assert client.recv(1) == b""  # the server side was shut: EOF, not a hang
        left = [t for t in _lab_threads() if t not in before and t.is_alive()]
        assert not left, (left, took)
        assert took < 5, took  # generous: the handshake alone would wait 10 s
    finally:
        client.close()
