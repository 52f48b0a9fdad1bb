#!/usr/bin/env python3
"""Transcode a video with ffmpeg and let anyone watch its progress live, through Herald.

A producer outside Node, with the standard library only: it creates an external job, makes a
test clip with ffmpeg's `testsrc`, transcodes it while reading ffmpeg's `-progress` output,
publishes real progress as it goes, then the result (output size and duration). Watch it with
`curl -N <the watch URL it prints>`, the page, or the CLI.

    python3 transcode.py --url http://127.0.0.1:8080 --seconds 10 --output out.mp4

The first line on stdout is JSON: {"jobId", "watch"}. Exit codes: 0 done, 1 failed (the job
ends `error`), 3 the job ended elsewhere (cancelled, or timed out): ffmpeg is stopped.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid


class JobEnded(Exception):
    """Herald answered 409 already_finished: someone cancelled the job, or it timed out."""


class Herald:
    """The two calls a producer makes: create an external job, publish an event into it."""

    def __init__(self, base_url, api_key=None):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.job_id = None
        self.publish_token = None

    def create_job(self, title, metadata):
        status, body = self._post("/v1/jobs", {"kind": "external", "title": title, "metadata": metadata}, self.api_key)
        if status != 202:
            raise RuntimeError(f"Herald refused the job ({status}): {body}")
        self.job_id, self.publish_token = body["jobId"], body["publishToken"]
        return body

    def publish(self, event, attempts=5):
        """Publishes one event. A network error or a 5xx is retried with the same
        Idempotency-Key, so a publish that did land is not written twice."""
        key = str(uuid.uuid4())
        for attempt in range(1, attempts + 1):
            try:
                status, body = self._post(f"/v1/jobs/{self.job_id}/events", event, self.publish_token, key)
            except OSError as error:  # refused, reset, timed out
                status, body = 0, str(error)
            if status in (200, 201):
                return body["eventId"]
            if status == 409 and body.get("error", {}).get("code") == "already_finished":
                raise JobEnded(body["error"]["message"])
            if status != 0 and status < 500:
                raise RuntimeError(f"Herald refused the event ({status}): {body}")
            if attempt < attempts:
                time.sleep(0.2 * 2**attempt)
        raise RuntimeError(f"Herald did not take the event after {attempts} attempts: {body}")

    def _post(self, path, payload, bearer, idempotency_key=None):
        headers = {"Content-Type": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(self.base_url + path, json.dumps(payload).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, {"error": {"code": "http", "message": text[:200]}}


def make_test_clip(path, seconds):
    """A clip with moving colour bars and a 440 Hz tone, made by ffmpeg itself."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=1280x720:rate=30",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path],
        check=True, capture_output=True,
    )


def transcode(herald, source, output, seconds, realtime):
    """Scales the clip down to 640 px wide, publishing progress from ffmpeg's -progress blocks:
    key=value lines ending with progress=continue (or end), every 0.2 s here."""
    command = ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-y"]
    command += ["-re"] if realtime else []  # read at the clip's own pace: a job long enough to cancel
    command += ["-i", source, "-vf", "scale=640:-2", "-c:v", "libx264", "-preset", "veryfast", "-crf", "28",
                "-c:a", "aac", "-b:a", "96k", "-progress", "pipe:1", "-stats_period", "0.2", output]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        last = 10
        block = {}
        try:
            for line in process.stdout:
                key, _, value = line.strip().partition("=")
                block[key] = value
                if key != "progress":
                    continue
                encoded = int(block.get("out_time_us", "0")) / 1e6 if block.get("out_time_us", "N/A") != "N/A" else 0.0
                block = {}
                percent = 10 + int(85 * min(encoded / seconds, 1.0))
                if percent > last:  # progress never goes back, and unchanged values are not news
                    last = percent
                    herald.publish({"status": "processing", "progress": percent, "stage": "encoding",
                                    "message": f"Encoded {encoded:.1f} s of {seconds:.1f} s"})
        except JobEnded:
            process.terminate()
            process.wait()
            raise
        if process.wait() != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"ffmpeg failed: {tail[0] if tail else 'exit ' + str(process.returncode)}")


def duration_of(path):
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", path],
                           check=True, capture_output=True, text=True)
    return float(probe.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("HERALD_URL", "http://127.0.0.1:8080"), help="Herald's base URL")
    parser.add_argument("--api-key", default=os.environ.get("HERALD_API_KEY"), help="an API key, when Herald has auth on")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the test clip")
    parser.add_argument("--output", default="transcoded.mp4", help="where the transcoded video goes")
    parser.add_argument("--realtime", action="store_true", help="encode no faster than the clip plays")
    args = parser.parse_args()

    herald = Herald(args.url, args.api_key)
    job = herald.create_job(f"Transcode a {args.seconds:g} s test clip", {"output": os.path.basename(args.output), "width": 640})
    print(json.dumps({"jobId": job["jobId"], "watch": herald.base_url + job["links"]["events"]}), flush=True)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            source = os.path.join(workdir, "testsrc.mp4")
            herald.publish({"status": "processing", "progress": 1, "stage": "preparing",
                            "message": f"Making a {args.seconds:g} s test clip with ffmpeg's testsrc"})
            make_test_clip(source, args.seconds)
            herald.publish({"status": "processing", "progress": 10, "stage": "preparing",
                            "message": f"Test clip ready: {os.path.getsize(source) / 1e6:.1f} MB at 1280x720"})
            transcode(herald, source, args.output, args.seconds, args.realtime)
        size, duration = os.path.getsize(args.output), duration_of(args.output)
        result = {"output": args.output, "bytes": size, "durationSeconds": round(duration, 3)}
        herald.publish({"status": "done", "progress": 100, "stage": "done",
                        "message": f"Transcoded {duration:.1f} s of video into {size / 1e3:.0f} kB",
                        "result": result})  # any JSON value: watchers get the object itself
        return 0
    except JobEnded as ended:
        print(f"transcode: stopped, the job has ended: {ended}", file=sys.stderr)
        if os.path.exists(args.output):
            os.remove(args.output)
        return 3
    except Exception as error:  # anything else: tell the watchers, then fail
        message = str(error) or type(error).__name__
        print(f"transcode: failed: {message}", file=sys.stderr)
        try:
            herald.publish({"status": "error", "stage": "failed", "message": "Transcoding failed",
                            "error": {"code": "transcode_failed", "message": message[:900]}})
        except (JobEnded, RuntimeError):
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
