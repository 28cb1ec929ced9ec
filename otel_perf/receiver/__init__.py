"""The OTLP/HTTP receiver of ``otel-perf serve``: spans from other hosts, Collectors and languages.

``POST /v1/traces`` (protobuf or JSON, optionally gzip) is decoded straight into light span
records (decode.py, never ``MessageToDict``), grouped by trace (assemble.py), and each local
root goes to the same ``StoreWriter`` the in-process pipeline uses. Roots sent by an app running
this distro already carry the ``perf.*`` facts and are stored as they are; other roots get the
facts derived here with the same pure functions (derive.py). ``POST /v1/metrics`` takes remote
hosts' system metrics into ``system_samples`` (metrics.py). The HTTP side (limits,
back-pressure, responses) is app.py; the two servers of ``otel-perf serve``, server.py.
See docs/otlp.md.
"""
