"""Herald's API from Python: create and submit jobs, publish into external jobs, watch any job."""

from __future__ import annotations

import codecs
import http.client
import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional

from ._http import Answer, error_of, open_connection, request_json, retry_after_seconds, split_base_url
from .errors import Cancelled, HeraldError
from .sse import SseParser

TERMINAL_STATUSES = frozenset({"done", "error", "cancelled"})
#: The kinds whose fields are the body itself; any other kind's input goes under `input`.
BUILT_IN_KINDS = frozenset({"summarize", "external"})


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "No result given": `publish(result=None)` sends the JSON `null` result, which is a result.
UNSET: Any = _Unset()

_NETWORK_ERRORS = (OSError, http.client.HTTPException)


@dataclass(frozen=True)
class Event:
    """One event of a watch: its SSE `id` (the cursor), its `event` name (`message` unless the
    stream is typed), and `data`, the event's JSON parsed (the raw text when it is not JSON)."""

    id: str
    event: str
    data: Any
    raw: str = field(repr=False, default="")

    @property
    def terminal(self) -> bool:
        return isinstance(self.data, dict) and self.data.get("status") in TERMINAL_STATUSES


def utf16_length(text: str) -> int:
    """A text's length as Herald counts `offset`: UTF-16 code units (JavaScript's `length`)."""
    return len(text.encode("utf-16-le")) // 2


def _quote(job_id: str) -> str:
    return urllib.parse.quote(job_id, safe="")


class Client:
    """One Herald deployment. `api_key` is needed when Herald has auth on.

    Requests that fail for a passing reason (no connection, a reset, a `5xx`, a `429` with
    `Retry-After`) are tried again, up to `max_attempts` in all, waiting what `Retry-After`
    says or `backoff` seconds doubled each time; a `Retry-After` longer than `max_wait` is raised
    at once, for the caller to decide.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff: float = 0.2,
        max_wait: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_wait = max_wait
        self._base = split_base_url(self.base_url)

    # Jobs

    def create_job(
        self,
        kind: str = "external",
        title: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        tags: Optional[List[str]] = None,
        *,
        callback_url: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Job:
        """Creates a job, an external one by default: the returned Job publishes into it."""
        fields: Dict[str, Any] = {}
        if title is not None:
            fields["title"] = title
        if metadata is not None:
            fields["metadata"] = dict(metadata)
        return self.submit(kind, fields, tags=tags, callback_url=callback_url, idempotency_key=idempotency_key)

    def submit(
        self,
        kind: str,
        input: Optional[Mapping[str, Any]] = None,
        *,
        tags: Optional[List[str]] = None,
        callback_url: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Job:
        """Submits a job: `submit("summarize", {"text": ..., "options": {...}})` sends the input's
        fields as the body (as for `external`); any other kind is sent as `{"kind", "input"}`."""
        body: Dict[str, Any] = {"kind": kind}
        if kind in BUILT_IN_KINDS:
            body.update(input or {})
        else:
            body["input"] = dict(input) if input is not None else {}
        if tags is not None:
            body["tags"] = list(tags)
        if callback_url is not None:
            body["callbackUrl"] = callback_url
        key = idempotency_key or str(uuid.uuid4())
        answer = self._send("POST", "/v1/jobs", body, self._key_header(), key)
        replayed = answer.status == 200 and isinstance(answer.body, dict) and "publishToken" not in answer.body
        if replayed and kind == "external" and self.api_key is None and idempotency_key is None:
            # Our 202 was lost and the retry replayed the job, which never repeats its publish
            # token; with auth off nothing else publishes into it, so make another (the lost one
            # ends producer_timeout).
            answer = self._send("POST", "/v1/jobs", body, self._key_header(), str(uuid.uuid4()))
        if answer.status not in (200, 202):
            raise error_of(answer)
        return Job(self, answer.body)

    def job(self, job_id: str, token: Optional[str] = None) -> Dict[str, Any]:
        """The job's snapshot (`GET /v1/jobs/{id}`)."""
        answer = self._send("GET", f"/v1/jobs/{_quote(job_id)}", None, self._bearer(token))
        if answer.status != 200:
            raise error_of(answer)
        return dict(answer.body)

    def cancel(self, job_id: str) -> Dict[str, Any]:
        """Cancels the job (`DELETE /v1/jobs/{id}`): its snapshot. `409 already_finished` raises."""
        # Not retried after a network error: a cancel that landed would answer `409` the second time.
        answer = self._send("DELETE", f"/v1/jobs/{_quote(job_id)}", None, self._key_header(), retry_network=False)
        if answer.status != 202:
            raise error_of(answer)
        return dict(answer.body)

    # Watching

    def watch(
        self,
        job_id: str,
        token: Optional[str] = None,
        *,
        last_event_id: Optional[str] = None,
        read_timeout: float = 60.0,
        max_retries: int = 10,
    ) -> Iterator[Event]:
        """Yields the job's events, from its first (or after `last_event_id`), until its terminal
        event or a `204` (the cursor is already at its end). A dropped connection is resumed,
        after the server's `retry:` wait, with `Last-Event-ID`: every event comes exactly once.
        `max_retries` attempts in a row without an event raise HeraldError. `read_timeout` must
        exceed the server's HEARTBEAT_MS (15 s): a silent connection that long counts as dropped.
        """
        cursor = last_event_id
        retry_ms = 3000  # the server's default; every stream opens with its own `retry:`
        failures = 0
        last_error: Optional[HeraldError] = None
        path = self._base[3] + f"/v1/jobs/{_quote(job_id)}/events"
        while True:
            connection = open_connection(self._base[0], self._base[1], self._base[2], read_timeout)
            try:
                headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **self._bearer(token)}
                if cursor:
                    headers["Last-Event-ID"] = cursor
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                if response.status == 204:
                    return
                if response.status != 200:
                    answer = Answer(response.status, response.headers, _parse(response.read().decode("utf-8", errors="replace")))
                    last_error = error_of(answer)
                    if not _transient(answer):
                        raise last_error
                    if last_error.retry_after is not None:
                        retry_ms = int(min(last_error.retry_after, self.max_wait) * 1000)
                elif response.getheader("Herald-Unavailable"):
                    # The bundled nginx's answer when no replica can take the stream: only a
                    # `retry:`, no open stream. Come back after it.
                    retry_ms = _retry_of(response.read(), retry_ms)
                    last_error = HeraldError(200, "unavailable", "no replica could take the stream")
                else:
                    parser = SseParser()
                    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
                    while True:
                        chunk = response.read1(65536)
                        if not chunk:
                            break
                        for message in parser.feed(decoder.decode(chunk)):
                            if message.id:
                                cursor = message.id
                            failures = 0
                            event = Event(message.id, message.event, _parse(message.data), message.data)
                            yield event
                            if event.terminal:
                                return
                        if parser.retry_ms is not None:
                            retry_ms = parser.retry_ms
                    if parser.retry_ms is not None:
                        retry_ms = parser.retry_ms
                    last_error = HeraldError(0, "stream_ended", "the stream ended before the job did")
            except _NETWORK_ERRORS as error:
                last_error = HeraldError(0, "unreachable", str(error) or type(error).__name__)
            finally:
                connection.close()
            failures += 1
            if failures > max_retries:
                raise last_error or HeraldError(0, "unreachable", "the stream could not be resumed")
            time.sleep(retry_ms / 1000)

    # The requests

    def _key_header(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _bearer(self, token: Optional[str]) -> Dict[str, str]:
        credential = token or self.api_key
        return {"Authorization": f"Bearer {credential}"} if credential else {}

    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        headers: Mapping[str, str],
        idempotency_key: Optional[str] = None,
        *,
        retry_network: bool = True,
    ) -> Answer:
        """Sends, trying again what failed for a passing reason. Every attempt carries the same
        `Idempotency-Key`, so one that landed before its answer was lost is not done twice."""
        sent = dict(headers)
        if idempotency_key is not None:
            sent["Idempotency-Key"] = idempotency_key
        for attempt in range(1, self.max_attempts + 1):
            wait = min(self.backoff * 2 ** (attempt - 1), 5.0)
            try:
                answer = request_json(self._base, method, path, body, sent, self.timeout)
            except _NETWORK_ERRORS as error:
                if not retry_network or attempt == self.max_attempts:
                    raise HeraldError(0, "unreachable", f"{method} {path}: {error or type(error).__name__}") from error
            else:
                if not _transient(answer) or attempt == self.max_attempts:
                    return answer
                after = retry_after_seconds(answer.headers)
                if after is not None:
                    if after > self.max_wait:
                        return answer
                    wait = after
            time.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt


class Job:
    """A job as `POST /v1/jobs` answered: `job_id`, `publish_token` (an external job's, from its
    `202`), `watch_token` (when Herald signs them), `links`, and `body`, the whole answer."""

    def __init__(self, client: Client, body: Mapping[str, Any]) -> None:
        self.client = client
        self.body: Dict[str, Any] = dict(body)
        self.job_id: str = body["jobId"]
        self.status: str = body.get("status", "queued")
        self.publish_token: Optional[str] = body.get("publishToken")
        self.watch_token: Optional[str] = body.get("watchToken")
        self.links: Dict[str, str] = dict(body.get("links", {}))
        # Where the next delta goes, per stream (None: the answer), in UTF-16 code units.
        self._offsets: Dict[Optional[str], int] = {}

    def __repr__(self) -> str:
        return f"Job({self.job_id!r}, status={self.status!r})"

    @property
    def watch_url(self) -> str:
        """Where anyone with the link watches it (`curl -N`, an EventSource)."""
        return self.client.base_url + self.links.get("events", f"/v1/jobs/{_quote(self.job_id)}/events")

    def offset(self, stream: Optional[str] = None) -> int:
        """The length of the text published so far on `stream` (None: the answer)."""
        return self._offsets.get(stream, 0)

    def publish(
        self,
        progress: Optional[int] = None,
        message: Optional[str] = None,
        stage: Optional[str] = None,
        delta: Optional[str] = None,
        offset: Optional[int] = None,
        stream: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        result: Any = UNSET,
        error: Optional[Mapping[str, str]] = None,
        status: Optional[str] = None,
        *,
        idempotency_key: Optional[str] = None,
    ) -> str:
        """Publishes one event into this external job; returns its id.

        `status` defaults to `error` when `error` ({"code", "message"}) is given, `done` when
        `result` is (any JSON value, `None` included), else `processing`. A `delta` without an
        `offset` goes after what this Job published so far on its `stream`; an explicit `offset`
        (0 to start the text again) moves that on. Retried with one `Idempotency-Key`, so an event
        is never written twice. Raises Cancelled when the job has ended elsewhere (`409
        already_finished`), HeraldError for any other refusal.
        """
        if status is None:
            status = "error" if error is not None else "done" if result is not UNSET else "processing"
        body: Dict[str, Any] = {"status": status}
        if progress is not None:
            body["progress"] = progress
        if message is not None:
            body["message"] = message
        if stage is not None:
            body["stage"] = stage
        if stream is not None:
            body["stream"] = stream
        if delta is not None:
            body["delta"] = delta
            body["offset"] = offset if offset is not None else self._offsets.get(stream, 0)
        elif offset is not None:
            body["offset"] = offset
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if result is not UNSET:
            body["result"] = result
        if error is not None:
            body["error"] = dict(error)
        credential = self.publish_token or self.client.api_key
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        key = idempotency_key or str(uuid.uuid4())
        answer = self.client._send("POST", f"/v1/jobs/{_quote(self.job_id)}/events", body, headers, key)
        if answer.status not in (200, 201):
            refusal = error_of(answer)
            if answer.status == 409 and refusal.code == "already_finished":
                raise Cancelled(refusal.status, refusal.code, refusal.message, refusal.details)
            raise refusal
        if delta is not None:
            self._offsets[stream] = body["offset"] + utf16_length(delta)
        self.status = status
        return str(answer.body["eventId"])

    def cancel(self) -> Dict[str, Any]:
        return self.client.cancel(self.job_id)

    def snapshot(self) -> Dict[str, Any]:
        return self.client.job(self.job_id, self.watch_token)

    def watch(self, **options: Any) -> Iterator[Event]:
        return self.client.watch(self.job_id, self.watch_token, **options)


def _transient(answer: Answer) -> bool:
    """Worth another try: a `5xx`, or a `429` that says when (without `Retry-After` it is the
    API key's jobs not ended, which waiting a moment does not change)."""
    if answer.status >= 500:
        return True
    return answer.status == 429 and retry_after_seconds(answer.headers) is not None


def _parse(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data


def _retry_of(raw: bytes, default: int) -> int:
    parser = SseParser()
    parser.feed(raw.decode("utf-8", errors="replace") + "\n")
    return parser.retry_ms if parser.retry_ms is not None else default
