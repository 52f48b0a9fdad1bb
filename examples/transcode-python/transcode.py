#!/usr/bin/env python3
"""Transcode a video with ffmpeg and let anyone watch its progress live, through Herald.

A producer outside Node, with Herald's Python SDK (sdk/python: the standard library only,
installed or found beside this checkout): it creates an external job, makes a test clip with
ffmpeg's `testsrc`, transcodes it while reading ffmpeg's `-progress` output, publishes real
progress as it goes, then the result (output size and duration). Watch it with
`curl -N <the watch URL it prints>`, the page, the CLI, or the SDK's `Client.watch`.

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

try:
    from herald import Cancelled, Client, HeraldError
except ImportError:  # run from a checkout, the SDK not installed: use the one beside it
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python"))
    from herald import Cancelled, Client, HeraldError


def make_test_clip(path, seconds):
    """A clip with moving colour bars and a 440 Hz tone, made by ffmpeg itself."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=1280x720:rate=30",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path],
        check=True, capture_output=True,
    )


def transcode(job, source, output, seconds, realtime):
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
                    job.publish(progress=percent, stage="encoding", message=f"Encoded {encoded:.1f} s of {seconds:.1f} s")
        except Cancelled:
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

    herald = Client(args.url, args.api_key)
    # Publishes retry by themselves (a network error, a 5xx, a 429), each under one Idempotency-Key.
    job = herald.create_job(title=f"Transcode a {args.seconds:g} s test clip",
                            metadata={"output": os.path.basename(args.output), "width": 640})
    print(json.dumps({"jobId": job.job_id, "watch": job.watch_url}), flush=True)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            source = os.path.join(workdir, "testsrc.mp4")
            job.publish(progress=1, stage="preparing", message=f"Making a {args.seconds:g} s test clip with ffmpeg's testsrc")
            make_test_clip(source, args.seconds)
            job.publish(progress=10, stage="preparing",
                        message=f"Test clip ready: {os.path.getsize(source) / 1e6:.1f} MB at 1280x720")
            transcode(job, source, args.output, args.seconds, args.realtime)
        size, duration = os.path.getsize(args.output), duration_of(args.output)
        result = {"output": args.output, "bytes": size, "durationSeconds": round(duration, 3)}
        # A result makes it `done`; any JSON value: watchers get the object itself.
        job.publish(progress=100, stage="done", message=f"Transcoded {duration:.1f} s of video into {size / 1e3:.0f} kB",
                    result=result)
        return 0
    except Cancelled as ended:  # 409 already_finished: cancelled, or timed out
        print(f"transcode: stopped, the job has ended: {ended.message}", file=sys.stderr)
        if os.path.exists(args.output):
            os.remove(args.output)
        return 3
    except Exception as error:  # anything else: tell the watchers, then fail
        message = str(error) or type(error).__name__
        print(f"transcode: failed: {message}", file=sys.stderr)
        try:
            job.publish(stage="failed", message="Transcoding failed",
                        error={"code": "transcode_failed", "message": message[:900]})  # an error makes it `error`
        except HeraldError:
            pass
        return 1

if __name__ == "__main__":
    sys.exit(main())
