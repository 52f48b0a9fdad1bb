"""A Server-Sent Events parser, as the WHATWG HTML standard ("Server-sent events") reads a stream.

Fed text in pieces of any size (a piece may end inside a line, or between the CR and LF of a
CRLF), it returns each event once its blank line has arrived. Lines end with CRLF, LF or CR;
`data:` lines join with a newline; `id:` sets the last event id, which lasts until the next
`id:`; `retry:` (ASCII digits only) sets the reconnection time; a line starting with `:` is a
comment. An event with no `data` is not dispatched, and what follows the last blank line when
the stream ends is dropped, as a browser does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional


@dataclass(frozen=True)
class SseMessage:
    """One dispatched event: its `data` (lines joined), its `event` name, and the last event id."""

    data: str
    event: str = "message"
    id: str = ""


class SseParser:
    """Incremental: call `feed(text)` with each piece as it arrives."""

    def __init__(self) -> None:
        self.last_event_id = ""
        #: The last `retry:` value the stream sent, in milliseconds (None until one came).
        self.retry_ms: Optional[int] = None
        self._pending = ""  # an incomplete line
        self._after_cr = False  # the previous piece ended with CR: a leading LF is its CRLF's
        self._seen_first_line = False
        self._data: List[str] = []
        self._event = ""

    def feed(self, text: str) -> List[SseMessage]:
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        self._after_cr = False
        messages: List[SseMessage] = []
        start = 0
        length = len(text)
        while start < length:
            cr = text.find("\r", start)
            lf = text.find("\n", start)
            ends = [i for i in (cr, lf) if i != -1]
            if not ends:
                self._pending += text[start:]
                return messages
            end = min(ends)
            line = self._pending + text[start:end]
            self._pending = ""
            if text[end] == "\r":
                if end + 1 < length:
                    start = end + 2 if text[end + 1] == "\n" else end + 1
                else:
                    self._after_cr = True
                    start = end + 1
            else:
                start = end + 1
            message = self._line(line)
            if message is not None:
                messages.append(message)
        return messages

    def _line(self, line: str) -> Optional[SseMessage]:
        if not self._seen_first_line:
            self._seen_first_line = True
            if line.startswith("\ufeff"):  # a byte order mark is dropped once, at the start
                line = line[1:]
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: the server's heartbeat
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value and all("0" <= c <= "9" for c in value):
                self.retry_ms = int(value)
        return None  # any other field is ignored

    def _dispatch(self) -> Optional[SseMessage]:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SseMessage(data="\n".join(data), event=event or "message", id=self.last_event_id)
