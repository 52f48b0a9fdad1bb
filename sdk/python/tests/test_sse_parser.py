"""The SSE parser against the WHATWG rules, fed whole and split at every byte."""

from __future__ import annotations

import unittest
from typing import List

from herald import SseMessage, SseParser


def parse(text: str) -> List[SseMessage]:
    return SseParser().feed(text)


def parse_in_pieces(text: str, size: int) -> List[SseMessage]:
    parser = SseParser()
    messages: List[SseMessage] = []
    for start in range(0, len(text), size):
        messages += parser.feed(text[start : start + size])
    return messages


class SseParserTest(unittest.TestCase):
    def test_herald_frames(self) -> None:
        stream = 'retry: 3000\n\nid: 1-0\ndata: {"status":"queued"}\n\n: heartbeat\n\nid: 2-0\ndata: {"status":"done"}\n\n'
        parser = SseParser()
        messages = parser.feed(stream)
        self.assertEqual(messages, [SseMessage('{"status":"queued"}', "message", "1-0"), SseMessage('{"status":"done"}', "message", "2-0")])
        self.assertEqual(parser.retry_ms, 3000)

    def test_every_line_ending_whole_and_split_anywhere(self) -> None:
        for ending in ("\n", "\r\n", "\r"):
            stream = ending.join(["id: 7-1", "event: delta", "data: one", "data:two", ": a comment", "", ""])
            expected = [SseMessage("one\ntwo", "delta", "7-1")]
            self.assertEqual(parse(stream), expected, repr(ending))
            for size in (1, 2, 3, 5):
                self.assertEqual(parse_in_pieces(stream, size), expected, (repr(ending), size))

    def test_a_crlf_split_between_its_cr_and_lf_is_one_line_end(self) -> None:
        parser = SseParser()
        self.assertEqual(parser.feed("data: a\r"), [])
        self.assertEqual(parser.feed("\n\r"), [SseMessage("a")])
        self.assertEqual(parser.feed("\ndata: b\r\n\r\n"), [SseMessage("b")])

    def test_the_field_rules(self) -> None:
        self.assertEqual(parse("data:  two spaces\n\n"), [SseMessage(" two spaces")], "only one space is dropped")
        self.assertEqual(parse("data\n\n"), [SseMessage("")], "a field without a colon has an empty value")
        self.assertEqual(parse("data: a\ndata:\n\n"), [SseMessage("a\n")])
        self.assertEqual(parse("id: 1\n\nevent: x\n\n"), [], "no data: nothing is dispatched")
        self.assertEqual(parse("unknown: 1\ndata: x\n\n"), [SseMessage("x")])
        self.assertEqual(parse("\ufeffdata: bom\n\n"), [SseMessage("bom")], "a leading BOM is dropped")
        self.assertEqual(parse("data: not yet\n"), [], "an event is dispatched at its blank line only")

    def test_the_id_lasts_until_the_next(self) -> None:
        parser = SseParser()
        messages = parser.feed("id: 5-0\ndata: a\n\ndata: b\n\nid: 6-0\ndata: c\n\nid\ndata: d\n\n")
        self.assertEqual([m.id for m in messages], ["5-0", "5-0", "6-0", ""])
        self.assertEqual(parser.feed("id: x\0y\ndata: e\n\n")[0].id, "", "an id with NULL is ignored")

    def test_retry_takes_digits_only(self) -> None:
        parser = SseParser()
        parser.feed("retry: 1500\n")
        parser.feed("retry: 2x\nretry: -1\nretry:\n")
        self.assertEqual(parser.retry_ms, 1500)
        parser.feed("retry: 250\r\n")
        self.assertEqual(parser.retry_ms, 250)


if __name__ == "__main__":
    unittest.main()
