"""A producer's side against a live Herald: publishing, its retries, its defaults, a cancel."""

from __future__ import annotations

import json
import unittest

from herald import Cancelled, Client, HeraldError, utf16_length
from support import API_KEY, URL_A, URL_B, FaultyProxy, live, raw_request, stored_events


@live
class PublishTest(unittest.TestCase):
    def setUp(self) -> None:
        self.proxy = FaultyProxy(URL_A)
        self.addCleanup(self.proxy.close)
        self.herald = Client(self.proxy.url, API_KEY, backoff=0.05)

    def publishes_of(self, job_id: str):
        return [seen for seen in self.proxy.seen if seen.request_line.startswith(f"POST /v1/jobs/{job_id}/events ")]

    def test_a_publish_whose_answer_was_lost_is_retried_and_written_once(self) -> None:
        job = self.herald.create_job(title="Lost answer")
        self.proxy.fail_next("drop_answer")
        event_id = job.publish(progress=10, message="written once")
        job.publish(result="ok")

        attempts = self.publishes_of(job.job_id)[:2]
        self.assertEqual(len(attempts), 2, "the first attempt lost its answer: the SDK must try again")
        self.assertIn(b"201", bytes(attempts[0].answered[:16]), "Herald took the first attempt")
        keys = [attempt.header("Idempotency-Key") for attempt in attempts]
        self.assertIsNotNone(keys[0])
        self.assertEqual(keys[0], keys[1], "a retry carries the first attempt's Idempotency-Key")

        events = stored_events(URL_B, job.job_id)
        self.assertEqual([event["status"] for _, event in events], ["queued", "processing", "done"])
        self.assertEqual([event["message"] for _, event in events].count("written once"), 1)
        self.assertEqual(event_id, events[1][0], "the retry returns the id of the event the first attempt wrote")

    def test_a_503_is_retried_and_the_event_written_once(self) -> None:
        job = self.herald.create_job(title="Redis blinked")
        self.proxy.fail_next("answer_503")
        job.publish(progress=20, message="after a 503")
        job.publish(result=None)

        attempts = self.publishes_of(job.job_id)
        self.assertEqual([attempt.status for attempt in attempts], [503, 201, 201])
        events = stored_events(URL_B, job.job_id)
        self.assertEqual([event["message"] for _, event in events], ["Waiting for the producer", "after a 503", ""])
        self.assertIn("result", events[-1][1])
        self.assertIsNone(events[-1][1]["result"], "result=None is the JSON null result, and ends the job done")
        self.assertEqual(events[-1][1]["status"], "done")

    def test_a_cancelled_job_raises_cancelled_at_the_producers_next_publish(self) -> None:
        job = self.herald.create_job(title="Cancelled while running")
        job.publish(progress=30, message="working")
        status, _ = raw_request(f"{URL_B}/v1/jobs/{job.job_id}", "DELETE")
        self.assertEqual(status, 202)

        with self.assertRaises(Cancelled) as raised:
            job.publish(progress=40, message="too late")
        self.assertEqual((raised.exception.status, raised.exception.code), (409, "already_finished"))
        self.assertEqual(raised.exception.details["status"], "cancelled", "details: the job's snapshot")
        events = stored_events(URL_B, job.job_id)
        self.assertEqual([event["status"] for _, event in events], ["queued", "processing", "cancelled"])

    def test_another_refusal_is_a_herald_error_with_the_apis_code(self) -> None:
        job = self.herald.create_job(title="Backwards")
        job.publish(progress=50)
        with self.assertRaises(HeraldError) as raised:
            job.publish(progress=40)
        self.assertNotIsInstance(raised.exception, Cancelled)
        self.assertEqual((raised.exception.status, raised.exception.code), (409, "progress_backwards"))
        self.assertTrue(raised.exception.message)
        job.publish(error={"code": "gave_up", "message": "stopped"})  # no status: error
        self.assertEqual(stored_events(URL_B, job.job_id)[-1][1]["error"], {"code": "gave_up", "message": "stopped"})

    def test_deltas_go_after_what_was_published_on_each_stream(self) -> None:
        job = self.herald.create_job(title="Writing")
        pieces = ["Hé", "llo 😀", " world"]
        for piece in pieces:
            job.publish(delta=piece)
        job.publish(delta="line 1\n", stream="log")
        job.publish(delta="line 2\n", stream="log")
        self.assertEqual(job.offset(), utf16_length("".join(pieces)))
        self.assertEqual(self.herald.job(job.job_id)["partial"], "".join(pieces))
        job.publish(delta="Again", offset=0)  # starting over: the text is replaced, not added to
        job.publish(delta="!")
        job.publish(result={"bytes": 12})

        events = [event for _, event in stored_events(URL_B, job.job_id)]
        answer = ""
        for event in events:
            if "delta" in event and "stream" not in event:
                answer = answer[: _js_index(answer, event["offset"])] + event["delta"]
        self.assertEqual(answer, "Again!")
        self.assertEqual([e["offset"] for e in events if "delta" in e and "stream" not in e], [0, 2, 8, 0, 5])
        snapshot = self.herald.job(job.job_id)
        self.assertEqual(snapshot["streams"], {"log": "line 1\nline 2\n"})
        self.assertEqual(snapshot["result"], {"bytes": 12})

    def test_a_replayed_creation_without_its_publish_token_is_not_handed_back(self) -> None:
        self.proxy.fail_next("drop_answer")
        job = self.herald.create_job(title="Lost 202", metadata={"n": 1})
        self.assertTrue(job.publish_token or API_KEY, "a job the SDK returns can be published into")
        job.publish(result="published")
        self.assertEqual(self.herald.job(job.job_id)["status"], "done")


def _js_index(text: str, units: int) -> int:
    """The Python index of a UTF-16 offset into `text`."""
    count = 0
    for index, char in enumerate(text):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(text)


@live
class SubmitTest(unittest.TestCase):
    def test_a_summary_is_submitted_with_its_input_as_the_body_and_watched_to_its_end(self) -> None:
        proxy = FaultyProxy(URL_A)
        self.addCleanup(proxy.close)
        herald = Client(proxy.url, API_KEY)
        job = herald.submit("summarize", {"text": "Herald streams progress. Jobs run on workers. Watchers resume.", "options": {"maxSentences": 2}})
        self.assertEqual(json.loads(proxy.seen[0].body)["options"], {"maxSentences": 2})
        self.assertNotIn("input", json.loads(proxy.seen[0].body))
        events = list(Client(URL_B, API_KEY).watch(job.job_id, job.watch_token))
        self.assertEqual(events[-1].data["status"], "done")
        self.assertIsInstance(events[-1].data["result"], str)

    def test_another_kind_is_sent_with_its_input_and_an_unknown_one_refused(self) -> None:
        proxy = FaultyProxy(URL_A)
        self.addCleanup(proxy.close)
        with self.assertRaises(HeraldError) as raised:
            Client(proxy.url, API_KEY).submit("no-such-kind", {"url": "https://example.com"})
        self.assertEqual(json.loads(proxy.seen[0].body), {"kind": "no-such-kind", "input": {"url": "https://example.com"}})
        self.assertEqual(raised.exception.status, 400)
        self.assertEqual(raised.exception.code, "unknown_kind")


if __name__ == "__main__":
    unittest.main()
