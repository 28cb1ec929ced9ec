"""Reports over the store (pure functions: connection + parameters -> dict) and their HTTP
surfaces. Filled by the query API issue; the store's schema (otel_perf/storage/schema.py)
already holds what they read."""
