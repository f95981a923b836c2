"""A loopback package index of real, installable wheels, that counts downloads in flight.

The lab's numpy wheels are filler (no client installs them), so what pip and uv do when
they download several files (one at a time, or N at once) is judged here: each project
``p0``, ``p1``... has one pure-Python wheel with its PEP 658 metadata beside it (so that
resolving reads no wheel), and every wheel is answered after ``delay_s``, long enough for
a client that downloads files concurrently to have them all in flight at once.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType


def build_wheel(directory: Path, name: str = "envdoctor_probe_pkg", version: str = "0.1") -> Path:
    """A minimal pure-Python wheel, written by hand (no build backend, no network)."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        ),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


class WheelIndex:
    """``http://127.0.0.1:<port>/simple/`` serving ``count`` projects, one wheel each."""

    def __init__(self, directory: Path, count: int, delay_s: float = 0.5) -> None:
        self.delay_s = delay_s
        self.names = [f"p{n}" for n in range(count)]
        self.wheels: dict[str, tuple[str, bytes, bytes]] = {}
        for name in self.names:
            wheel = build_wheel(directory, name, "1.0")
            with zipfile.ZipFile(wheel) as archive:
                metadata = archive.read(f"{name}-1.0.dist-info/METADATA")
            self.wheels[name] = (wheel.name, wheel.read_bytes(), metadata)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.wheel_gets: list[dict[str, str]] = []  # the headers of each wheel request
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WheelIndex:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.shutdown()  # wakes serve_forever, then the listener is closed
        self._thread.join(5)
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.in_flight = self.most_in_flight = 0
            self.wheel_gets.clear()

    def _page(self, name: str) -> bytes:
        file, wheel, metadata = self.wheels[name]
        wheel_hash = hashlib.sha256(wheel).hexdigest()
        metadata_hash = hashlib.sha256(metadata).hexdigest()
        return (
            f'<!DOCTYPE html><html><body><a href="/files/{file}#sha256={wheel_hash}" '
            f'data-dist-info-metadata="sha256={metadata_hash}" '
            f'data-core-metadata="sha256={metadata_hash}">{file}</a></body></html>'
        ).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                parts = [part for part in path.split("/") if part]
                body: bytes | None = None
                if parts[:1] == ["simple"] and len(parts) == 2 and parts[1] in index.wheels:
                    body, kind = index._page(parts[1]), "text/html"
                elif parts[:1] == ["files"] and len(parts) == 2:
                    body, kind = index._file(parts[1], dict(self.headers.items()))
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def _file(self, file: str, headers: dict[str, str]) -> tuple[bytes | None, str]:
        for wheel_file, wheel, metadata in self.wheels.values():
            if file == f"{wheel_file}.metadata":
                return metadata, "application/octet-stream"
            if file == wheel_file:
                with self.lock:
                    self.in_flight += 1
                    self.most_in_flight = max(self.most_in_flight, self.in_flight)
                    self.wheel_gets.append({k.lower(): v for k, v in headers.items()})
                try:
                    time.sleep(self.delay_s)
                finally:
                    with self.lock:
                        self.in_flight -= 1
                return wheel, "application/octet-stream"
        return None, ""
