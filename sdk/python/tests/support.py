"""What the live tests share: the Herald they run against, a raw reader of a job's stored events
(independent of the SDK's own parser), and a TCP proxy the tests control to fail requests and
cut streams, on loopback."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import unittest
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

URL_A = os.environ.get("HERALD_URL_A", "")
URL_B = os.environ.get("HERALD_URL_B", "")
API_KEY = os.environ.get("HERALD_API_KEY") or None
#: A third replica, and where to POST to shut it down (test/integration/python-sdk.test.ts serves it).
URL_C = os.environ.get("HERALD_URL_C", "")
SHUT_DOWN_C_URL = os.environ.get("HERALD_SHUT_DOWN_C_URL", "")
#: The SSE_RETRY_MS the Herald under test runs with (each stream opens with `retry: <it>`).
SSE_RETRY_MS = int(os.environ.get("HERALD_SSE_RETRY_MS", "3000"))

live = unittest.skipUnless(URL_A and URL_B, "HERALD_URL_A and HERALD_URL_B name no running Herald")
with_replica_to_shut_down = unittest.skipUnless(URL_C and SHUT_DOWN_C_URL, "HERALD_URL_C and HERALD_SHUT_DOWN_C_URL are not set")


def host_port(url: str) -> Tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def raw_request(url: str, method: str = "GET", headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        sent = {"Authorization": f"Bearer {API_KEY}", "Content-Length": "0"} if API_KEY else {"Content-Length": "0"}
        sent.update(headers or {})
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=sent)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def stored_events(base_url: str, job_id: str) -> List[Tuple[str, Dict[str, Any]]]:
    """(id, event) of every event of an ended job, as GET /v1/jobs/{id}/events sends its history.
    Herald writes each frame as `id: …` and one `data: …` line, LF-terminated."""
    status, body = raw_request(f"{base_url}/v1/jobs/{job_id}/events")
    assert status == 200, (status, body[:200])
    events = []
    for frame in body.decode("utf-8").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n") if line.startswith(("id: ", "data: ")))
        if "data" in lines:
            events.append((lines["id"], json.loads(lines["data"])))
    return events


@dataclass
class Seen:
    """One connection through the proxy: the request's head and body, and when it arrived."""

    head: str
    body: bytes
    at: float
    answered: bytearray = field(default_factory=bytearray)

    def header(self, name: str) -> Optional[str]:
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    @property
    def request_line(self) -> str:
        return self.head.split("\r\n", 1)[0]

    @property
    def status(self) -> Optional[int]:
        line = bytes(self.answered).split(b"\r\n", 1)[0].split(b" ")
        return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


class FaultyProxy:
    """A loopback TCP proxy in front of one Herald replica, one request per connection (the SDK
    sends `Connection: close`). `fail_next(mode)` fails the next request: "drop_answer" forwards
    it, lets Herald act on it, and closes the connection without its answer (a response lost to
    the network); "answer_503" answers `503` with `Retry-After: 0` itself. `cut()` closes every
    open connection, as a replica that dies; `upstream` may be moved to another replica."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream = host_port(upstream_url)
        self.seen: List[Seen] = []
        self._failures: List[str] = []
        self._open: List[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def fail_next(self, mode: str) -> None:
        with self._lock:
            self._failures.append(mode)

    def cut(self) -> None:
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._server.close()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: Optional[socket.socket] = None
        try:
            head, body = _read_request(client)
            seen = Seen(head.decode("latin-1"), body, time.monotonic())
            with self._lock:
                self.seen.append(seen)
                mode = self._failures.pop(0) if self._failures else None
                self._open.append(client)
            if mode == "answer_503":
                answer = b'{"error":{"code":"redis_unavailable","message":"Redis did not answer"}}'
                seen.answered += (
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 0\r\n"
                    + f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                    + answer
                )
                client.sendall(bytes(seen.answered))
                return
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._open.append(upstream)
            upstream.sendall(head + body)
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    return
                seen.answered += chunk
                if mode != "drop_answer":
                    client.sendall(chunk)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    sock.close()


def _read_request(client: socket.socket) -> Tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            raise OSError("the client left before its request's head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n", body
