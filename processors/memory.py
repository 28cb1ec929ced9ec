"""Cheap process memory readings for the request boundaries (not per span).

Resident memory comes from ``/proc/self/statm`` through one file descriptor kept open and read
with ``pread`` (a procfs read: no disk I/O, about a microsecond); where procfs is missing,
``getrusage``'s peak is the best available figure. These are process-level numbers:
concurrent requests in one process share them (documented in the glossary).
"""

from __future__ import annotations

import os
import resource

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MIB = 1024.0 * 1024.0
_fd: int | None = None
_fd_pid: int | None = None


def _statm_fd() -> int | None:
    global _fd, _fd_pid
    pid = os.getpid()
    if _fd is None or _fd_pid != pid:
        try:
            _fd = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            _fd = -1
        _fd_pid = pid
    return _fd if _fd >= 0 else None


def rss_bytes() -> int:
    """Current resident set size in bytes (peak RSS where procfs is unavailable)."""
    fd = _statm_fd()
    if fd is not None:
        try:
            return int(os.pread(fd, 64, 0).split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            pass
    return max_rss_bytes()


def max_rss_bytes() -> int:
    """The process's lifetime peak RSS (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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
