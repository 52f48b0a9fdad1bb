"""A watcher's side against a live Herald: resuming across a lost replica, the end, the 204."""

from __future__ import annotations

import time
import unittest

from herald import Client, HeraldError
from support import (
    API_KEY,
    SHUT_DOWN_C_URL,
    SSE_RETRY_MS,
    URL_A,
    URL_B,
    URL_C,
    FaultyProxy,
    host_port,
    live,
    raw_request,
    stored_events,
    with_replica_to_shut_down,
)


@live
class WatchTest(unittest.TestCase):
    def setUp(self) -> None:
        self.producer = Client(URL_A, API_KEY)
        self.proxy = FaultyProxy(URL_A)
        self.addCleanup(self.proxy.close)
        self.watcher = Client(self.proxy.url, API_KEY)

    def streams_seen(self, job_id: str):
        return [seen for seen in self.proxy.seen if seen.request_line.startswith(f"GET /v1/jobs/{job_id}/events")]

    def test_a_watch_resumes_on_another_replica_with_its_cursor_and_yields_every_event_once(self) -> None:
        job = self.producer.create_job(title="Watched across a lost replica")
        for step in (10, 20, 30):
            job.publish(progress=step, message=f"step {step}")
        watch = self.watcher.watch(job.job_id, job.watch_token)
        yielded = [next(watch) for _ in range(4)]  # queued and the three steps, through replica A

        # Replica A goes away mid-stream; the load balancer sends the reconnect to B.
        self.proxy.upstream = host_port(URL_B)
        cut_at = time.monotonic()
        self.proxy.cut()
        for step in (40, 50):
            job.publish(progress=step, message=f"step {step}")
        job.publish(result={"steps": 5})
        yielded += list(watch)

        stored = stored_events(URL_B, job.job_id)
        self.assertEqual([event.id for event in yielded], [event_id for event_id, _ in stored], "every event, once, in order")
        self.assertEqual([event.data for event in yielded], [event for _, event in stored])
        self.assertEqual(yielded[-1].data["status"], "done")

        first, again = self.streams_seen(job.job_id)
        self.assertIsNone(first.header("Last-Event-ID"))
        self.assertEqual(again.header("Last-Event-ID"), yielded[3].id, "the reconnect names the last event it yielded")
        waited_ms = (again.at - cut_at) * 1000
        self.assertGreaterEqual(waited_ms, SSE_RETRY_MS * 0.9, "it waits the server's retry: before reconnecting")
        self.assertLess(waited_ms, SSE_RETRY_MS + 2500, "and no longer than that, give or take")

    @with_replica_to_shut_down
    def test_a_watch_resumes_on_another_replica_when_its_own_shuts_down(self) -> None:
        # The proxy stands for the load balancer: the watch is on replica C until C shuts down
        # for real (it tells its watchers `retry:` and closes them), then on B.
        self.proxy.upstream = host_port(URL_C)
        job = self.producer.create_job(title="Watched while its replica shuts down")
        job.publish(progress=10, message="before")
        watch = self.watcher.watch(job.job_id, job.watch_token)
        yielded = [next(watch), next(watch)]

        self.proxy.upstream = host_port(URL_B)
        shut_at = time.monotonic()
        status, _ = raw_request(SHUT_DOWN_C_URL, "POST")
        self.assertEqual(status, 204)
        job.publish(progress=60, message="while C is gone")
        job.publish(result="after")
        yielded += list(watch)

        stored = stored_events(URL_B, job.job_id)
        self.assertEqual([event.id for event in yielded], [event_id for event_id, _ in stored], "every event, once, in order")
        streams = self.streams_seen(job.job_id)
        self.assertEqual(len(streams), 2, "one stream on C, one on B")
        self.assertEqual(streams[1].header("Last-Event-ID"), yielded[1].id)
        self.assertGreaterEqual((streams[1].at - shut_at) * 1000, SSE_RETRY_MS * 0.9, "after the drain's retry:")

    def test_a_watch_ends_at_the_terminal_event(self) -> None:
        job = self.producer.create_job(title="Cancelled")
        job.publish(progress=5)
        job.cancel()
        events = list(self.watcher.watch(job.job_id, job.watch_token))
        self.assertEqual([event.data["status"] for event in events], ["queued", "processing", "cancelled"])
        self.assertEqual(len(self.streams_seen(job.job_id)), 1)

    def test_a_cursor_at_the_end_gets_a_204_and_the_watch_yields_nothing(self) -> None:
        job = self.producer.create_job(title="Over")
        last = job.publish(result="done")
        started = time.monotonic()
        self.assertEqual(list(self.watcher.watch(job.job_id, job.watch_token, last_event_id=last)), [])
        self.assertLess(time.monotonic() - started, SSE_RETRY_MS / 1000, "ended at once, not retried")
        streams = self.streams_seen(job.job_id)
        self.assertEqual([seen.status for seen in streams], [204])
        self.assertEqual(streams[0].header("Last-Event-ID"), last)

    def test_a_refused_watch_raises_at_once_with_the_apis_error(self) -> None:
        with self.assertRaises(HeraldError) as raised:
            next(self.watcher.watch("AAAAAAAAAAAAAAAAAAAAAA"))
        self.assertEqual((raised.exception.status, raised.exception.code), (404, "not_found"))
        self.assertEqual(len(self.streams_seen("AAAAAAAAAAAAAAAAAAAAAA")), 1, "not retried")

    def test_leaving_the_loop_ends_the_watch_without_a_reconnect(self) -> None:
        job = self.producer.create_job(title="Left early")
        watch = self.watcher.watch(job.job_id, job.watch_token)
        self.assertEqual(next(watch).data["status"], "queued")
        watch.close()
        job.publish(result="after the watcher left")
        time.sleep(SSE_RETRY_MS / 1000 + 0.2)
        self.assertEqual(len(self.streams_seen(job.job_id)), 1)


if __name__ == "__main__":
    unittest.main()
