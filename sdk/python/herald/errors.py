"""What the SDK raises: Herald's refusals, with the API's status, code and message."""

from __future__ import annotations

from typing import Any, Optional


class HeraldError(Exception):
    """Herald refused a request (`status`, `code` and `message` are the API's error), or it
    could not be reached after the retries (`status` 0, `code` "unreachable")."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, retry_after: Optional[float] = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        #: The API's `details`: the fields that were wrong, or (a `409` on publish) the job's snapshot.
        self.details = details
        self.retry_after = retry_after


class Cancelled(HeraldError):
    """A publish answered `409 already_finished`: the job has ended elsewhere — cancelled
    (`DELETE /v1/jobs/{id}`), ended by the producer watchdog (`producer_timeout`), or already
    ended by this producer. The producer should stop its work. `details` is the job's snapshot."""
