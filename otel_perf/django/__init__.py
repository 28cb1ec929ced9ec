"""otel-perf's Django integration: deferred instrumentation (and, later, the report views)."""
