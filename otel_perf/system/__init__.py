"""System metrics: one sampler per host, on the writer thread of one elected process.

Every ``OTEL_PERF_SYSTEM_SAMPLE_INTERVAL_S`` (15 s) the elected process of a host writes one
``system_samples`` row (host CPU %, memory % and bytes available, disk % and bytes free of the
store's data folder, the host's request rate over the interval, ``source='sampler'``) and one
``process_samples`` row per live application process of the host (RSS, threads, open files,
CPU %). The application's processes are found from their own heartbeats in
``service_instances``, so the sampler sees every worker of every service that writes to this
store from this host, and nothing else. Sampling never runs on the request path: psutil is read
on a helper thread with a timeout, and whatever cannot be read is null. See
docs/system-metrics.md.
"""

from __future__ import annotations

import re
import socket

from otel_perf.storage.jobs import Job


def election_name(host: str) -> str:
    """The lock name of a host's sampler (a file name: unsafe characters replaced)."""
    return "sampler-" + (re.sub(r"[^A-Za-z0-9._-]", "_", host) or "host")


def jobs(settings) -> list[Job]:
    """The jobs provider (``storage/jobs.py``): the sampler, unless turned off."""
    if not settings.system_sampler:
        return []
    from otel_perf.system.sampler import SystemSampler

    interval = settings.system_sample_interval_s
    # psutil answers in milliseconds; the bound is for a reading that hangs. It leaves room
    # for the warm-up (a first CPU reading) and stays well inside an interval when it can.
    sampler = SystemSampler(timeout_s=min(5.0, max(2.0, interval / 2)))
    # The machine's own name, not the resource's host.name: the election is about processes
    # that share this kernel, whatever name they report under.
    elect = election_name(socket.gethostname())
    return [Job("system-sampler", interval, sampler.run, elect=elect)]
