"""otel-perf's pytest plugin: N+1 detection and per-test query budgets in the test run.

Shipped as the ``pytest11`` entry point ``otel_perf`` (``otel_perf.pytest_plugin.plugin``) and
inert until enabled (``--perf``, ``--perf-n-plus-one``, ``--perf-budget``, ``--perf-report``,
``--perf-budget-update`` or the matching ini settings): installing otel-perf never changes
anyone's test run. When enabled, each test's call phase is one local root span (like
``@otel_perf.track``), so every DB statement and GraphQL operation the test runs — in its body
or through Django's test client — is folded per test. See docs/pytest-plugin.md.

Modules: ``options`` (what is enabled), ``pipeline`` (the in-process tracer provider and
instrumentations), ``collector`` (the span processor that records one test), ``facts`` (pure:
observations → counts, N+1 findings, messages), ``budget`` (the budget file), ``report``
(terminal summary, JSON report), ``plugin`` (the pytest hooks, marker and ``perf`` fixture).
"""
