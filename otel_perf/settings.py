"""One frozen settings object, built once from ``OTEL_PERF_*`` environment variables.

Inside Django an optional ``OTEL_PERF = {...}`` dict in the Django settings fills in what the
environment does not set (the environment always wins, as with every OpenTelemetry variable).
Options are validated here, once, never during a request: a bad value logs one line naming
the variable and the default used, and the app still starts.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

_logger = logging.getLogger("otel_perf")


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true/false")


def _parse_positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def _parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


def _parse_non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _parse_fraction(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError("must be a fraction in (0, 1]")
    return value


def _parse_percent(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 100:
        raise ValueError("must be a percentage in (0, 100]")
    return value


def _parse_field_costs(raw: str) -> tuple:
    # Parsed by the GraphQL package (no graphql-core import), validated here once.
    from processors.graphql.cost_config import parse_field_costs

    return parse_field_costs(raw)


def _parse_paths(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _parse_trace_url_template(raw: str) -> str:
    value = raw.strip()
    if value and "{trace_id}" not in value:
        raise ValueError("expected a URL containing {trace_id}")
    if value and not value.lower().startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return value


def _parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def _parse_http_url(raw: str) -> str:
    value = raw.strip()
    if value and not value.lower().startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return value


_SEVERITY = ("info", "warning", "error", "critical")


@dataclasses.dataclass(frozen=True)
class Option:
    name: str
    unit: str
    default: Any
    parse: Callable[[str], Any]
    meaning: str

    @property
    def env(self) -> str:
        return "OTEL_PERF_" + self.name.upper()


# The single table of settings: the docs table and the validation both come from it.
OPTIONS: tuple[Option, ...] = (
    Option(
        "enabled",
        "bool",
        True,
        _parse_bool,
        "Set to false to turn otel-perf off entirely (plain OpenTelemetry remains).",
    ),
    Option(
        "store",
        "path",
        "./otel_perf_data",
        str,
        "Where facts are stored: a folder (DuckLake: SQLite catalog + Parquet files, any "
        "number of processes), a path ending in .duckdb (one plain DuckDB file, "
        "single process only), or `none` (no local store; export only).",
    ),
    Option(
        "data_path",
        "path",
        "./otel_perf_data",
        str,
        "With OTEL_PERF_STORE=`ducklake:postgres:<libpq conninfo>` (several hosts, one "
        "catalog in PostgreSQL): the folder every host mounts, or an object-store URL, for "
        "the Parquet files (docs/multi-host.md). Read from the environment.",
    ),
    Option(
        "slow_request_ms",
        "ms",
        1000.0,
        _parse_positive_float,
        "A request at least this long is slow (flag `perf.slow`, logged as a warning).",
    ),
    Option(
        "very_slow_request_ms",
        "ms",
        5000.0,
        _parse_positive_float,
        "A request at least this long is very slow (flag `perf.very_slow`, logged as an error).",
    ),
    Option(
        "slow_query_ms",
        "ms",
        1000.0,
        _parse_positive_float,
        "A GraphQL operation at least this long is a slow query.",
    ),
    Option(
        "slow_db_ms",
        "ms",
        500.0,
        _parse_positive_float,
        "A single DB statement at least this long is a slow DB query.",
    ),
    Option(
        "n_plus_one_threshold",
        "count",
        5,
        _parse_positive_int,
        "Executions of one statement fingerprint within one request that make an N+1.",
    ),
    Option(
        "max_queries_per_request",
        "count",
        10,
        _parse_positive_int,
        "A request running more DB statements than this is flagged `perf.db.too_many`.",
    ),
    Option(
        "memory_per_request_mb",
        "MiB",
        50.0,
        _parse_positive_float,
        "A request whose memory delta reaches this is flagged `perf.memory.high`.",
    ),
    Option(
        "exclude_paths",
        "paths",
        (
            "/health",
            "/healthz",
            "/ready",
            "/static/",
            "/favicon.ico",
            "/graphql/performance/",
            "/api/v1/performance/",
            "/metrics",
        ),
        _parse_paths,
        "Comma-separated URL paths that are not requests (health checks, static files, the "
        "product's own endpoints). `/x` matches `/x` and `/x/...`; `/x/` matches the prefix.",
    ),
    Option(
        "flush_interval_s",
        "s",
        2.0,
        _parse_positive_float,
        # A commit costs about the same CPU whether it holds 1 or 1,000 requests
        # (benchmarks.ingest): every 2 s halves that cost of a quiet process against 1 s.
        "How often each process's background writer commits what it has queued (readers see "
        "a request within about this long).",
    ),
    Option(
        "exit_wait_s",
        "s",
        10.0,
        _parse_positive_float,
        "How long a process's exit waits for its writer to commit what is queued; a writer "
        "still busy then is interrupted (docs/operations.md).",
    ),
    Option(
        "queue_size",
        "rows",
        20000,
        _parse_positive_int,
        "Requests a process may hold for the writer; beyond it they are dropped and counted.",
    ),
    Option(
        "max_open_traces",
        "traces",
        10000,
        _parse_positive_int,
        "Open local traces the processor tracks; the oldest are evicted beyond it.",
    ),
    Option(
        "store_sample_rate",
        "fraction",
        1.0,
        _parse_fraction,
        "Fraction of ordinary requests stored (decided by trace id, stored with weight "
        "1/rate); errors, slow requests, N+1, slow DB statements, high memory and GraphQL "
        "operations over the complexity maximum are always stored. OTLP export is unaffected.",
    ),
    Option(
        "inline_row_limit",
        "rows",
        20,
        _parse_non_negative_int,
        # Measured per commit (one writer thread): inlined, 1-3 requests cost 12 ms less CPU
        # than Parquet files, 10 requests (10-20 rows per table) the same, 30 requests 19 ms
        # more, 100 requests 112 ms more. So a quiet process's commits make no file each and
        # a busy one's go straight to Parquet; maintenance merges the files.
        "DuckLake: a commit of at most this many rows per table is kept in the catalog instead "
        "of a Parquet file, until maintenance (0: always files). Fewer files, more CPU per row.",
    ),
    Option(
        "maintenance_interval_s",
        "s",
        300.0,
        _parse_positive_float,
        "How often the elected process compacts the store (flush inlined rows, merge files, "
        "expire snapshots).",
    ),
    Option(
        "user_ids",
        "mode",
        "pseudonymous",
        _parse_choice("pseudonymous", "raw", "off"),
        "How the authenticated user is recorded: a keyed pseudonym, the raw id (opt-in), "
        "or not at all.",
    ),
    Option(
        "pseudonym_key",
        "secret",
        "",
        str,
        "Key for user pseudonyms, shared by all workers and hosts. Default: derived from "
        "Django's SECRET_KEY (without either, users are not recorded).",
    ),
    Option(
        "tenant_header",
        "header",
        "X-Tenant-ID",
        str,
        "Request header naming the tenant (seed 003); empty disables it.",
    ),
    Option(
        "tenant_attribute",
        "attribute",
        "tenant.id",
        str,
        "Span attribute naming the tenant, for apps that set it themselves.",
    ),
    Option(
        "log_slow_requests",
        "bool",
        True,
        _parse_bool,
        "Log slow requests (warning) and very slow ones (error) from the background thread.",
    ),
    Option(
        "graphql_max_complexity",
        "points",
        100,
        _parse_positive_int,
        "A GraphQL operation scoring above this raises a `high_complexity` alert (and is "
        "rejected when OTEL_PERF_GRAPHQL_ENFORCE_COMPLEXITY is true).",
    ),
    Option(
        "graphql_enforce_complexity",
        "bool",
        False,
        _parse_bool,
        "Reject GraphQL operations over the maximum complexity with a GraphQL error "
        "(opt-in; see docs/graphql.md for each server).",
    ),
    Option(
        "graphql_default_list_size",
        "items",
        10,
        _parse_positive_int,
        "Assumed size of a list field that has no slicing argument (first/last/limit/pageSize).",
    ),
    Option(
        "graphql_mutation_cost",
        "points",
        10,
        _parse_non_negative_int,
        "Base cost added for each mutation root field.",
    ),
    Option(
        "graphql_field_costs",
        "mapping",
        "",
        _parse_field_costs,
        "Per-field costs: `Type.field=cost` or `Type.field=cost*arg1|arg2` (multiplier "
        "arguments), separated by `;`.",
    ),
    Option(
        "graphql_ignore_introspection",
        "bool",
        True,
        _parse_bool,
        "Introspection fields (`__schema`, `__type`) add nothing to complexity.",
    ),
    Option(
        "graphql_resolver_spans",
        "bool",
        False,
        _parse_bool,
        "A span per resolved field (costly, high cardinality; off by default). DB statements "
        "are attributed to the field path either way.",
    ),
    Option(
        "redact_variables",
        "keys",
        (),
        _parse_paths,
        "Extra GraphQL variable names to redact (comma-separated, case-insensitive substrings), "
        "beyond password, token, secret, authorization, api key and credit card.",
    ),
    Option(
        "cache_spans",
        "bool",
        False,
        _parse_bool,
        "A span per Django cache call (hits and misses are counted either way).",
    ),
    Option(
        "api_tokens",
        "secret",
        "",
        str,
        "Bearer tokens for the report API with their roles: `token:admin,token2:read`.",
    ),
    Option(
        "api_public",
        "bool",
        False,
        _parse_bool,
        "Open the performance reports to anonymous users (never the default).",
    ),
    Option(
        "api_max_limit",
        "rows",
        1000,
        _parse_positive_int,
        "The largest `limit` a report accepts; larger values get a 400.",
    ),
    Option(
        "trace_url_template",
        "URL",
        "",
        _parse_trace_url_template,
        "Link for a trace id on the dashboard, e.g. `http://jaeger:16686/trace/{trace_id}`.",
    ),
    Option(
        "otlp_max_body_mb",
        "MiB",
        32.0,
        _parse_positive_float,
        "`otel-perf serve` OTLP receiver: largest payload, as sent and once decompressed (413).",
    ),
    Option(
        "otlp_max_pending_spans",
        "spans",
        200000,
        _parse_positive_int,
        "OTLP receiver: spans held while their traces complete; beyond it senders get 503 with "
        "Retry-After.",
    ),
    Option(
        "otlp_trace_wait_s",
        "s",
        2.0,
        _parse_positive_float,
        "OTLP receiver: how long a trace waits for late children after its root arrived.",
    ),
    Option(
        "otlp_trace_timeout_s",
        "s",
        30.0,
        _parse_positive_float,
        "OTLP receiver: spans whose root never arrives are dropped (and counted) after this.",
    ),
    Option(
        "memory_warning_mb",
        "MiB",
        1024.0,
        _parse_positive_float,
        "A process whose resident memory reaches this raises a `memory_warning` alert.",
    ),
    Option(
        "alert_interval_s",
        "s",
        30.0,
        _parse_positive_float,
        "How often the elected process evaluates the alert rules.",
    ),
    Option(
        "alert_quiet_period_s",
        "s",
        600.0,
        _parse_positive_float,
        "An alert resolves after this long with no new occurrence.",
    ),
    # Alert delivery (otel_perf/alerting/, docs/alerting.md): a handler is on when its
    # address is set.
    Option(
        "alert_webhook_url",
        "URL",
        "",
        _parse_http_url,
        "POST each opened/resolved alert as JSON to this URL (generic webhook).",
    ),
    Option(
        "alert_webhook_min_severity",
        "severity",
        "warning",
        _parse_choice(*_SEVERITY),
        "The least severe alert the webhook receives.",
    ),
    Option(
        "alert_slack_webhook_url",
        "URL",
        "",
        _parse_http_url,
        "A Slack incoming-webhook URL: alerts as messages coloured by severity.",
    ),
    Option(
        "alert_slack_min_severity",
        "severity",
        "warning",
        _parse_choice(*_SEVERITY),
        "The least severe alert Slack receives.",
    ),
    Option(
        "alert_smtp_host",
        "host",
        "",
        str,
        "SMTP server for alert e-mails (with OTEL_PERF_ALERT_SMTP_TO).",
    ),
    Option("alert_smtp_port", "port", 587, _parse_positive_int, "SMTP server port."),
    Option(
        "alert_smtp_security",
        "mode",
        "starttls",
        _parse_choice("none", "starttls", "ssl"),
        "SMTP connection security: `starttls`, `ssl` (implicit TLS, port 465) or `none`.",
    ),
    Option("alert_smtp_user", "user", "", str, "SMTP login user (no login when unset)."),
    Option("alert_smtp_password", "secret", "", str, "SMTP login password."),
    Option("alert_smtp_from", "address", "otel-perf@localhost", str, "Sender of alert e-mails."),
    Option(
        "alert_smtp_to",
        "addresses",
        "",
        str,
        "Comma-separated recipients of alert e-mails.",
    ),
    Option(
        "alert_email_min_severity",
        "severity",
        "error",
        _parse_choice(*_SEVERITY),
        "The least severe alert that is e-mailed.",
    ),
    Option(
        "alert_sentry_dsn",
        "DSN",
        "",
        str,
        "Send alerts to Sentry as events (needs sentry-sdk installed).",
    ),
    Option(
        "alert_sentry_min_severity",
        "severity",
        "error",
        _parse_choice(*_SEVERITY),
        "The least severe alert sent to Sentry.",
    ),
    Option(
        "alert_delivery_timeout_s",
        "s",
        5.0,
        _parse_positive_float,
        "Timeout of one delivery attempt (connect + answer).",
    ),
    Option(
        "alert_delivery_retries",
        "count",
        3,
        _parse_non_negative_int,
        "Retries after a failed attempt (5xx, timeout, connection error; never after a 4xx), "
        "with exponential backoff.",
    ),
    Option(
        "alert_delivery_backoff_s",
        "s",
        1.0,
        _parse_positive_float,
        "Wait before the first retry; doubled for each further one (at most 60 s).",
    ),
    Option(
        "alert_delivery_rate_limit",
        "per minute",
        30,
        _parse_positive_int,
        "Deliveries each handler may make per minute; beyond it they are skipped and "
        "recorded as rate_limited.",
    ),
    Option(
        "alert_delivery_queue_size",
        "alerts",
        1000,
        _parse_positive_int,
        "Alerts waiting for each handler; beyond it they are dropped and recorded.",
    ),
    Option(
        "system_sampler",
        "bool",
        True,
        _parse_bool,
        "Sample host and process metrics (CPU, memory, disk of the data folder, RSS) in one "
        "elected process per host.",
    ),
    Option(
        "system_sample_interval_s",
        "s",
        15.0,
        _parse_positive_float,
        "How often the elected process of each host writes a system sample.",
    ),
    # Bottleneck rules (query_api/bottlenecks/): seed 003's thresholds and their defaults.
    Option(
        "bottleneck_window_s",
        "s",
        300.0,
        _parse_positive_float,
        "The trailing window the bottleneck rules judge (seed 003's analysis window).",
    ),
    Option(
        "bottleneck_interval_s",
        "s",
        60.0,
        _parse_positive_float,
        "How often the bottleneck rules run (within the alert evaluation; each run costs "
        "about a quarter of a second of one core on a small store). Keep it below "
        "`ALERT_QUIET_PERIOD_S`, or their alerts resolve between runs.",
    ),
    Option(
        "baseline_window_s",
        "s",
        3600.0,
        _parse_positive_float,
        "The window before it that degradation and query budgets compare against.",
    ),
    Option(
        "min_requests",
        "count",
        10,
        _parse_positive_int,
        "Requests an endpoint needs in a window before its latency or error rate is judged.",
    ),
    Option(
        "max_avg_latency_ms",
        "ms",
        1000.0,
        _parse_positive_float,
        "`high_latency` when an endpoint's average is above this (error at 2x, critical 4x).",
    ),
    Option(
        "max_p95_latency_ms",
        "ms",
        2000.0,
        _parse_positive_float,
        "`high_latency` when an endpoint's P95 is above this (error at 2x, critical 4x).",
    ),
    Option(
        "max_error_rate",
        "fraction",
        0.05,
        _parse_fraction,
        "`high_error_rate` (error) above this fraction of an endpoint's requests; critical "
        "above 0.20.",
    ),
    Option(
        "max_cpu_percent",
        "%",
        80.0,
        _parse_percent,
        "`resource_exhaustion` (error) at this host CPU; critical at 90.",
    ),
    Option(
        "max_memory_percent",
        "%",
        85.0,
        _parse_percent,
        "`resource_exhaustion` (error) at this host memory use; critical at 90.",
    ),
    Option(
        "max_disk_percent",
        "%",
        90.0,
        _parse_percent,
        "`resource_exhaustion` (error) at this disk use of the data folder; critical at 95.",
    ),
    Option(
        "degradation_ratio",
        "ratio",
        1.5,
        _parse_positive_float,
        "`performance_degradation` when an endpoint's average in the window is this many times "
        "its baseline (1.5: 50 % worse).",
    ),
    Option(
        "memory_leak_growth",
        "fraction",
        0.5,
        _parse_positive_float,
        "`memory_leak_suspected` when a process's RSS grew by this fraction over the baseline "
        "window, steadily (a line fits it with R² >= 0.8).",
    ),
    # SQLAlchemy connection pools (docs/fastapi.md).
    Option(
        "pool_sample_interval_s",
        "s",
        10.0,
        _parse_positive_float,
        "How often each process samples its SQLAlchemy connection pools (`pool_samples`).",
    ),
    Option(
        "pool_max_wait_ms",
        "ms",
        500.0,
        _parse_positive_float,
        "`pool_long_wait` when a checkout waited this long for a free connection (error at "
        "2x, critical 4x).",
    ),
    # Retention, encryption and Prometheus (docs/operations.md).
    Option(
        "retention_days",
        "days",
        30.0,
        _parse_positive_float,
        "Rows older than this are deleted by the store's maintenance and `otel-perf cleanup`.",
    ),
    Option(
        "encryption_key",
        "secret",
        "",
        str,
        "Encrypt the store at rest: a `.duckdb` file with this key; a new DuckLake store "
        "writes encrypted Parquet files (see docs/operations.md for what each kind covers).",
    ),
    Option(
        "prometheus_max_series",
        "series",
        200,
        _parse_positive_int,
        "Label sets per metric on `/metrics`; further endpoints/hosts share one "
        '`endpoint="(other)"` series.',
    ),
)

_BY_NAME = {o.name: o for o in OPTIONS}


@dataclasses.dataclass(frozen=True)
class Settings:
    enabled: bool = True
    store: str = "./otel_perf_data"
    data_path: str = "./otel_perf_data"
    slow_request_ms: float = 1000.0
    very_slow_request_ms: float = 5000.0
    slow_query_ms: float = 1000.0
    slow_db_ms: float = 500.0
    n_plus_one_threshold: int = 5
    max_queries_per_request: int = 10
    memory_per_request_mb: float = 50.0
    exclude_paths: tuple[str, ...] = _BY_NAME["exclude_paths"].default
    flush_interval_s: float = 2.0
    exit_wait_s: float = 10.0
    queue_size: int = 20000
    max_open_traces: int = 10000
    store_sample_rate: float = 1.0
    inline_row_limit: int = 20
    maintenance_interval_s: float = 300.0
    user_ids: str = "pseudonymous"
    pseudonym_key: str = ""
    tenant_header: str = "X-Tenant-ID"
    tenant_attribute: str = "tenant.id"
    log_slow_requests: bool = True
    graphql_max_complexity: int = 100
    graphql_enforce_complexity: bool = False
    graphql_default_list_size: int = 10
    graphql_mutation_cost: int = 10
    graphql_field_costs: tuple = ()
    graphql_ignore_introspection: bool = True
    graphql_resolver_spans: bool = False
    redact_variables: tuple[str, ...] = ()
    cache_spans: bool = False
    api_tokens: str = ""
    api_public: bool = False
    api_max_limit: int = 1000
    trace_url_template: str = ""
    otlp_max_body_mb: float = 32.0
    otlp_max_pending_spans: int = 200000
    otlp_trace_wait_s: float = 2.0
    otlp_trace_timeout_s: float = 30.0
    memory_warning_mb: float = 1024.0
    alert_interval_s: float = 30.0
    alert_quiet_period_s: float = 600.0
    alert_webhook_url: str = ""
    alert_webhook_min_severity: str = "warning"
    alert_slack_webhook_url: str = ""
    alert_slack_min_severity: str = "warning"
    alert_smtp_host: str = ""
    alert_smtp_port: int = 587
    alert_smtp_security: str = "starttls"
    alert_smtp_user: str = ""
    alert_smtp_password: str = ""
    alert_smtp_from: str = "otel-perf@localhost"
    alert_smtp_to: str = ""
    alert_email_min_severity: str = "error"
    alert_sentry_dsn: str = ""
    alert_sentry_min_severity: str = "error"
    alert_delivery_timeout_s: float = 5.0
    alert_delivery_retries: int = 3
    alert_delivery_backoff_s: float = 1.0
    alert_delivery_rate_limit: int = 30
    alert_delivery_queue_size: int = 1000
    system_sampler: bool = True
    system_sample_interval_s: float = 15.0
    bottleneck_window_s: float = 300.0
    bottleneck_interval_s: float = 60.0
    baseline_window_s: float = 3600.0
    min_requests: int = 10
    max_avg_latency_ms: float = 1000.0
    max_p95_latency_ms: float = 2000.0
    max_error_rate: float = 0.05
    max_cpu_percent: float = 80.0
    max_memory_percent: float = 85.0
    max_disk_percent: float = 90.0
    degradation_ratio: float = 1.5
    memory_leak_growth: float = 0.5
    pool_sample_interval_s: float = 10.0
    pool_max_wait_ms: float = 500.0
    retention_days: float = 30.0
    encryption_key: str = ""
    prometheus_max_series: int = 200

    @functools.cached_property
    def _excluded(self) -> re.Pattern:
        # One compiled pattern: checked once per request on the request path.
        parts = [
            re.escape(p) if p.endswith("/") else re.escape(p) + "(?:/|$)"
            for p in self.exclude_paths
        ]
        return re.compile("|".join(parts) if parts else "(?!)")

    def is_excluded(self, path: str | None) -> bool:
        return bool(path) and self._excluded.match(path) is not None


def _coerce(option: Option, value: Any) -> Any:
    """A Django-settings value may already be typed; strings go through the env parser."""
    if isinstance(value, str):
        return option.parse(value)
    if option.name == "graphql_field_costs" and isinstance(value, Mapping):
        from processors.graphql.cost_config import format_field_costs

        return option.parse(format_field_costs(value))
    if option.name in ("exclude_paths", "redact_variables"):
        return tuple(str(v) for v in value)
    if isinstance(option.default, bool):
        if not isinstance(value, bool):
            raise ValueError("expected a bool")
        return value
    return option.parse(str(value))


def load_settings(
    environ: Mapping[str, str] | None = None, django_options: Mapping[str, Any] | None = None
) -> Settings:
    """Build the settings; never raises. Each bad value is logged once with its default."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for key, raw in (django_options or {}).items():
        option = _BY_NAME.get(str(key).lower())
        if option is None:
            _logger.warning("otel-perf: unknown key %r in Django settings OTEL_PERF; ignored", key)
            continue
        try:
            values[option.name] = _coerce(option, raw)
        except (TypeError, ValueError) as exc:
            _logger.warning(
                "otel-perf: OTEL_PERF[%r]=%r is invalid (%s); using the default %r",
                key,
                raw,
                exc,
                option.default,
            )
    for option in OPTIONS:
        raw = environ.get(option.env)
        if raw is None or raw.strip() == "" and option.name != "tenant_header":
            continue
        try:
            values[option.name] = option.parse(raw)
        except (TypeError, ValueError) as exc:
            _logger.warning(
                "otel-perf: %s=%r is invalid (%s); using the default %r",
                option.env,
                raw,
                exc,
                values.get(option.name, option.default),
            )
    if values.get("very_slow_request_ms", 5000.0) < values.get("slow_request_ms", 1000.0):
        _logger.warning(
            "otel-perf: OTEL_PERF_VERY_SLOW_REQUEST_MS is below OTEL_PERF_SLOW_REQUEST_MS; "
            "using the slow threshold for both"
        )
        values["very_slow_request_ms"] = values.get("slow_request_ms", 1000.0)
    quiet = values.get("alert_quiet_period_s", 600.0)
    if values.get("bottleneck_interval_s", 60.0) >= quiet:
        _logger.warning(
            "otel-perf: OTEL_PERF_BOTTLENECK_INTERVAL_S is not below "
            "OTEL_PERF_ALERT_QUIET_PERIOD_S (bottleneck alerts would resolve between runs); "
            "using half the quiet period"
        )
        values["bottleneck_interval_s"] = quiet / 2
    return Settings(**values)


def settings_table_markdown() -> str:
    """The documented table (README and docs are checked against it by a test)."""
    rows = ["| Variable | Django key | Unit | Default | Meaning |", "|---|---|---|---|---|"]
    for o in OPTIONS:
        default = ",".join(o.default) if isinstance(o.default, tuple) else o.default
        if default == "":
            default = "(unset)"
        rows.append(f"| `{o.env}` | `{o.name}` | {o.unit} | `{default}` | {o.meaning} |")
    return "\n".join(rows)


_current: Settings | None = None


def get_settings() -> Settings:
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def set_settings(settings: Settings) -> None:
    """Replace the process's settings once Django's own OTEL_PERF dict can be read."""
    global _current
    _current = settings
