"""Herald's Python SDK: the standard library only, Python 3.9 or later.

    from herald import Client, Cancelled

    herald = Client("http://127.0.0.1:8080")
    job = herald.create_job(title="Nightly import")
    job.publish(progress=10, message="Reading")
    job.publish(result={"rows": 1200})            # done

    for event in herald.watch(job.job_id):        # resumes by itself; ends with the job
        print(event.id, event.data["status"])
"""

from .client import BUILT_IN_KINDS, TERMINAL_STATUSES, UNSET, Client, Event, Job, utf16_length
from .errors import Cancelled, HeraldError
from .sse import SseMessage, SseParser

__all__ = [
    "BUILT_IN_KINDS",
    "TERMINAL_STATUSES",
    "UNSET",
    "Cancelled",
    "Client",
    "Event",
    "HeraldError",
    "Job",
    "SseMessage",
    "SseParser",
    "utf16_length",
]
__version__ = "0.1.0"
