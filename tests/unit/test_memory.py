"""Memory readings against the kernel's own report (/proc/self/status), and the reuse of recent
readings (RSS and peak) that saves two system calls at each request's start."""

import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_perf.settings import Settings
from processors import attributes as A
from processors import memory
from processors.perf_processor import PerfSpanProcessor
from tests.unit.sinks import ListSink

MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    not memory.os.path.exists("/proc/self/status"), reason="needs Linux procfs"
)


def status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise AssertionError(field)


def test_readings_agree_with_proc_status():
    assert abs(memory.rss_bytes() - status_bytes("VmRSS")) < 2 * MIB
    assert abs(memory.max_rss_bytes() - status_bytes("VmHWM")) < 2 * MIB


def raise_peak_by(mib: int) -> None:
    """Make the process's lifetime peak rise by about ``mib`` MiB, then free it again."""
    headroom = status_bytes("VmHWM") - status_bytes("VmRSS")  # not a reading of ours
    block = b"x" * (headroom + mib * MIB)  # filled, so every page is resident
    del block


def test_a_recent_peak_reading_is_reused_and_an_old_one_is_not():
    before = memory.max_rss_bytes()
    read_at = memory._last_peak[0]
    raise_peak_by(64)
    # Within the window: the earlier reading, no system call (the real peak is higher now).
    assert memory.max_rss_bytes_at(read_at + memory.PEAK_REUSE_NS) == before
    assert status_bytes("VmHWM") > before + 32 * MIB
    # Past the window, or a start before the reading: a fresh reading.
    assert memory.max_rss_bytes_at(read_at + memory.PEAK_REUSE_NS + 1) > before + 32 * MIB
    memory.max_rss_bytes()
    assert memory.max_rss_bytes_at(memory._last_peak[0] - 1) >= memory._last_peak[1]


def test_a_recent_rss_reading_is_reused_and_an_old_one_is_not():
    before = memory.rss_bytes()
    read_at = memory._last_rss[0]
    kept = b"r" * (64 * MIB)  # resident now: a fresh reading sees it
    # Within the window (or a reading taken after the start): that reading, no system call.
    assert memory.rss_bytes_at(read_at + memory.RSS_REUSE_NS) == before
    assert memory.rss_bytes_at(read_at - 1) == before
    # Past the window: a fresh reading, which becomes the newest.
    fresh = memory.rss_bytes_at(read_at + memory.RSS_REUSE_NS + 1)
    assert fresh > before + 32 * MIB
    assert memory._last_rss[1] == fresh
    del kept


def age_readings() -> None:
    """Make this process's last readings too old to serve the next request's start."""
    memory._last_rss = (0, 0)
    memory._last_peak = (0, 0)


def test_a_request_start_takes_a_recent_reading_and_reads_afresh_after_a_pause():
    sink = ListSink()
    provider = TracerProvider()
    provider.add_span_processor(PerfSpanProcessor(sink, Settings()))
    tracer = provider.get_tracer("t")
    # A reading taken (by another thread) after the next request's start: as good as any.
    memory._last_rss = (time.time_ns() + 10**9, 123 * MIB)
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER):
        pass
    assert sink.items[-1][2].rss_start == 123 * MIB
    age_readings()
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as span:
        pass
    start = sink.items[-1][2].rss_start
    assert abs(start - status_bytes("VmRSS")) < 4 * MIB
    assert abs(span.attributes[A.MEMORY_DELTA_MB]) < 4


def test_memory_figures():
    # Peak rose during the request: growth up to the new peak.
    assert memory.memory_figures(100 * MIB, 150 * MIB, 110 * MIB, 200 * MIB) == (110, 10, 100)
    # Peak did not move: the end RSS is the best lower bound; negative growth reads 0.
    assert memory.memory_figures(100 * MIB, 150 * MIB, 90 * MIB, 150 * MIB) == (90, -10, 0)


def test_request_figures_with_a_reused_start_peak():
    sink = ListSink()
    provider = TracerProvider()
    provider.add_span_processor(PerfSpanProcessor(sink, Settings()))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER):
        pass  # its end reads the peak: the next request's start reuses that reading
    kept = None
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as span:
        raise_peak_by(64)  # a transient peak, freed before the end
        kept = b"y" * (48 * MIB)  # still held at the end
    figures = sink.items[-1][2].memory
    attrs = span.attributes
    assert attrs[A.MEMORY_USAGE_MB] == round(figures[0], 3)
    assert 40 < attrs[A.MEMORY_DELTA_MB] < 60
    assert attrs[A.MEMORY_PEAK_MB] > 60  # the transient peak: 64 MiB above the old one
    assert abs(attrs[A.MEMORY_USAGE_MB] * MIB - status_bytes("VmRSS")) < 4 * MIB
    del kept
    # Past the reuse window: the next request reads its start peak afresh.
    age_readings()
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as span:
        pass
    assert span.attributes[A.MEMORY_PEAK_MB] < 8


@pytest.mark.skipif(not hasattr(memory.os, "fork"), reason="needs fork")
def test_a_forked_child_reads_its_own_memory_not_the_parents():
    memory.rss_bytes()  # the parent's statm descriptor is open now
    pid = memory.os.fork()
    if pid == 0:  # the child: grow well past the parent, then compare with the kernel
        ok = False
        try:
            block = b"z" * (96 * MIB)
            ok = abs(memory.rss_bytes() - status_bytes("VmRSS")) < 8 * MIB
            del block
        finally:
            memory.os._exit(0 if ok else 1)
    _, status = memory.os.waitpid(pid, 0)
    assert memory.os.waitstatus_to_exitcode(status) == 0
    assert abs(memory.rss_bytes() - status_bytes("VmRSS")) < 2 * MIB
