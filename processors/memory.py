"""Cheap process memory readings for the request boundaries (not per span).

Resident memory comes from ``/proc/self/statm`` through one file descriptor kept open and read
with ``pread`` (a procfs read: no disk I/O, about a microsecond); where procfs is missing,
``getrusage``'s peak is the best available figure. These are process-level numbers:
concurrent requests in one process share them (documented in the glossary).

Each reading is a system call, and on the request path a system call costs several times its
own microsecond (the caches and TLB it disturbs slow the Python code after it). So the peak
at a request's start is not read afresh when this process read it at most
``PEAK_REUSE_NS`` before that start (typically the previous request's end): the lifetime
peak never falls, so that reading is a lower bound of the peak at the start, and exactly the
peak whenever nothing raised it in between — then ``peak_memory_mb`` is unchanged. If the
peak did rise in that short gap, the rise is counted as the request's. The RSS at a start is
likewise the newest RSS reading when it was taken at most ``RSS_REUSE_NS`` before (under load:
the previous request's end, a few hundred microseconds earlier); what changed in that gap
counts as the request's delta. A busy process thus pays two readings per request (RSS and peak
at the end) instead of four; an idle one, whose requests are far apart, reads afresh.
"""

from __future__ import annotations

import os
import resource
import time

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MIB = 1024.0 * 1024.0
# The open statm descriptor: None until first read, -1 when procfs is missing. It names the
# process that opened it, so a forked child drops it (``_forget_readings``) and opens its own; no
# os.getpid() check per read, as that is a system call of its own on current glibc.
_fd: int | None = None


def _statm_fd() -> int | None:
    global _fd
    if _fd is None:
        try:
            _fd = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            _fd = -1
    return _fd if _fd >= 0 else None


RSS_REUSE_NS = 2_000_000  # 2 ms: an RSS reading this recent serves a request's start

# (time.time_ns() when read, RSS in bytes) of the newest RSS reading in this process.
_last_rss: tuple[int, int] = (0, 0)


def rss_bytes() -> int:
    """Current resident set size in bytes (peak RSS where procfs is unavailable), read now."""
    global _last_rss
    fd = _fd if _fd is not None else _statm_fd()
    rss = -1
    if fd is not None and fd >= 0:
        try:
            rss = int(os.pread(fd, 64, 0).split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            pass
    if rss < 0:
        rss = max_rss_bytes()
    _last_rss = (time.time_ns(), rss)
    return rss


def rss_bytes_at(start_ns: int) -> int:
    """The RSS as of ``start_ns`` (a ``time.time_ns()`` value just past): the newest reading
    when it was taken at most ``RSS_REUSE_NS`` before (or after: another thread's reading
    since the start is as close), else a fresh one."""
    read_at, rss = _last_rss
    if start_ns - read_at <= RSS_REUSE_NS:
        return rss
    return rss_bytes()


PEAK_REUSE_NS = 100_000_000  # 100 ms: a peak reading this recent serves a request's start

# (time.time_ns() when read, ru_maxrss in bytes) of the newest peak reading in this process;
# one tuple so that a concurrent reader never pairs one reading's time with another's value.
_last_peak: tuple[int, int] = (0, 0)


def max_rss_bytes() -> int:
    """The process's lifetime peak RSS (ru_maxrss is KiB on Linux), read now."""
    global _last_peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    _last_peak = (time.time_ns(), peak)
    return peak


def max_rss_bytes_at(start_ns: int) -> int:
    """The lifetime peak RSS as of ``start_ns`` (a ``time.time_ns()`` value just past): the
    newest reading when it was taken at most ``PEAK_REUSE_NS`` before, else a fresh one."""
    read_at, peak = _last_peak
    if 0 <= start_ns - read_at <= PEAK_REUSE_NS:
        return peak
    return max_rss_bytes()


def _forget_readings() -> None:
    # A forked child has its own peak: the parent's reading must not stand for it. Its
    # inherited statm descriptor reads the parent's memory: close it, open the child's on use.
    global _last_peak, _last_rss, _fd
    _last_peak = _last_rss = (0, 0)
    fd, _fd = _fd, None
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_readings)


def memory_figures(
    rss_start: int, maxrss_start: int, rss_end: int, maxrss_end: int
) -> tuple[float, float, float]:
    """(memory_usage_mb, memory_delta_mb, peak_memory_mb) as the glossary defines them.

    Peak growth is what the process's peak rose to during the request, above its RSS at the
    start; when the lifetime peak did not move, the end RSS is the best lower bound we have.
    """
    peak = maxrss_end if maxrss_end > maxrss_start else rss_end
    return (
        rss_end / _MIB,
        (rss_end - rss_start) / _MIB,
        max(0, max(peak, rss_end) - rss_start) / _MIB,
    )
