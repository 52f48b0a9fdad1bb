"""One HTTP request to Herald over http.client: no proxies from the environment, no redirects."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from .errors import HeraldError

USER_AGENT = "herald-python/0.1.0"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: Any  # the parsed JSON, or None


def split_base_url(base_url: str) -> Tuple[str, str, int, str]:
    """(scheme, host, port, path prefix) of `http://host:port/prefix`."""
    parts = urllib.parse.urlsplit(base_url.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http:// or https:// URL, not {base_url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, parts.path


def open_connection(scheme: str, host: str, port: int, timeout: float) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def retry_after_seconds(headers: Optional[http.client.HTTPMessage]) -> Optional[float]:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None or not value.strip().isdigit():
        return None  # Herald sends seconds; an HTTP date is not one of its answers
    return float(value.strip())


def request_json(
    base: Tuple[str, str, int, str],
    method: str,
    path: str,
    body: Any = None,
    headers: Optional[Mapping[str, str]] = None,
    timeout: float = 30.0,
) -> Answer:
    """Sends one request and reads its JSON answer. Network failures raise OSError or
    http.client.HTTPException, for the caller to retry or not."""
    scheme, host, port, prefix = base
    sent: Dict[str, str] = {"Accept": "application/json", "User-Agent": USER_AGENT, "Connection": "close"}
    payload: Optional[bytes] = None
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    connection = open_connection(scheme, host, port, timeout)
    try:
        connection.request(method, prefix + path, body=payload, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw.decode("utf-8"))
            except ValueError:
                parsed = None
        return Answer(response.status, response.headers, parsed)
    finally:
        connection.close()


def error_of(answer: Answer) -> HeraldError:
    """The API's `{"error": {code, message, details?}}` as a HeraldError (or a generic one)."""
    error = answer.body.get("error") if isinstance(answer.body, dict) else None
    if isinstance(error, dict):
        return HeraldError(
            answer.status,
            str(error.get("code", "http_error")),
            str(error.get("message", "")),
            error.get("details"),
            retry_after_seconds(answer.headers),
        )
    return HeraldError(answer.status, "http_error", f"HTTP {answer.status}", None, retry_after_seconds(answer.headers))
