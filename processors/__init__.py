"""Span processing: PerfSpanProcessor, SQL fingerprinting, N+1 detection, sampling."""
