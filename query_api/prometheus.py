"""``/metrics``: the store's figures in Prometheus' text exposition format (version 0.0.4).

Written by hand (a few lines) rather than through prometheus_client, so nothing is registered
in a global registry of the host process.

Counters that never go backwards. The counters and histograms are totals over the stored
requests, and retention deletes old requests. So before retention deletes request rows older
than a cutoff, ``fold`` adds their totals into a small *base* file in the store folder
(``prometheus_base.json``; beside a ``.duckdb`` file: ``<file>.prometheus_base.json``) together
with that cutoff (``folded_until``), written atomically (write + rename), and only then are the
rows deleted. A scrape reports

    base (rows before folded_until)  +  totals of the rows stored at or after folded_until

so every request is counted exactly once whether or not retention has deleted it yet: a crash
between the base write and the delete leaves rows that the scrape no longer reads. A scrape
reads the base, then the rows, then the base again, and retries if a fold happened in between.
Rows only ever join (writers append), so each sum only grows. Exceptions: a new, empty store,
or the base file removed by hand, start from zero (Prometheus treats it as a counter reset).

Bounded cardinality. Each process admits at most ``OTEL_PERF_PROMETHEUS_MAX_SERIES`` label sets
per family (largest first on the first scrape, then first come); the rest are summed into one
series whose labels are all ``(other)``. Admission is sticky, so a series never moves
between its own labels and ``(other)`` (which would make both look like counter resets).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import datetime, timedelta

from otel_perf.storage.address import StoreAddress
from query_api import queries as Q
from query_api import queries_monitor as QM

BASE_FILE = "prometheus_base.json"
OTHER = "(other)"
EPOCH = datetime(1970, 1, 1)
FAR = datetime(9999, 1, 1)
RECENT = timedelta(minutes=5)
SEVERITIES = ("info", "warning", "error", "critical")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_N = len(QM.BUCKETS_S)
# The numeric columns of REQUEST_TOTALS, in order (after endpoint, method, status).
FIELDS = (
    ["count", "duration_sum"]
    + [f"d{i}" for i in range(_N)]
    + ["db_queries", "db_time_sum"]
    + [f"q{i}" for i in range(_N)]
    + ["n_plus_one"]
)
_AT = {name: i for i, name in enumerate(FIELDS)}

Key = tuple[str, str, str]  # endpoint, method, status


# -- the base ----------------------------------------------------------------------------------
def _base_path(address: StoreAddress) -> str | None:
    # Beside a .duckdb file (several may share a folder), inside a DuckLake folder; None when
    # the data lives behind a URL (object storage): no shared file to keep the base in.
    if "://" in address.path:
        return None
    if address.kind == "duckdb":
        return address.path + "." + BASE_FILE
    return os.path.join(address.path, BASE_FILE)


def read_base(address: StoreAddress) -> tuple[datetime, dict[Key, list[float]]]:
    path = _base_path(address)
    if path is None:
        return EPOCH, {}
    try:
        with open(path) as f:
            data = json.load(f)
        until = datetime.fromisoformat(data["folded_until"])
        series = {tuple(k.split("\t")): list(v) for k, v in data["series"].items()}
        return until, series
    except (OSError, ValueError, KeyError):
        return EPOCH, {}


def _totals(con, since: datetime, until: datetime) -> dict[Key, list[float]]:
    params = {"since": since, "until": until, **QM.bucket_params()}
    out: dict[Key, list[float]] = {}
    for row in con.execute(QM.REQUEST_TOTALS, params).fetchall():
        key = tuple("" if v is None else str(v) for v in row[:3])
        out[key] = [float(v or 0) for v in row[3:]]
    return out


def _add(into: dict[Key, list[float]], more: dict[Key, list[float]]) -> None:
    for key, values in more.items():
        have = into.get(key)
        if have is None:
            into[key] = values[:]
        else:
            into[key] = [a + b for a, b in zip(have, values, strict=True)]


def fold(con, address: StoreAddress, until: datetime) -> None:
    """Add the totals of requests stored before ``until`` (and not folded yet) to the base.
    Called by retention before it deletes request rows older than ``until``."""
    path = _base_path(address)
    if path is None:
        return  # documented: with object-storage data, retention resets the counters
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fold at a time (maintenance vs. the CLI)
        folded_until, series = read_base(address)
        if until <= folded_until:
            return
        _add(series, _totals(con, folded_until, until))
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(
                {
                    "folded_until": until.isoformat(),
                    "series": {"\t".join(k): v for k, v in series.items()},
                },
                f,
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        os.close(lock)


def request_totals(con, address: StoreAddress) -> dict[Key, list[float]]:
    """Base + the rows not folded yet: monotonic under retention (module docstring)."""
    for _ in range(5):
        until, series = read_base(address)
        _add(series, _totals(con, until, FAR))
        if read_base(address)[0] == until:
            return series
    return series


# -- exposition ----------------------------------------------------------------------------------
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Admission:
    """Sticky, bounded admission of label sets (one per metric family group)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.admitted: set = set()
        self._lock = threading.Lock()

    def apply(self, values: dict, other, weight=lambda v: 0) -> dict:
        with self._lock:
            for key in sorted(values, key=lambda k: (-weight(values[k]), k)):
                if key not in self.admitted and len(self.admitted) < self.limit:
                    self.admitted.add(key)
            out: dict = {}
            for key, v in values.items():
                target = key if key in self.admitted else other
                if target in out and isinstance(v, list):
                    out[target] = [a + b for a, b in zip(out[target], v, strict=True)]
                elif target in out:
                    out[target] = out[target] + v
                else:
                    out[target] = v[:] if isinstance(v, list) else v
            return out


class MetricsExporter:
    """Renders ``/metrics`` from a store cursor; keeps the admitted label sets of a process."""

    def __init__(self, address: StoreAddress, max_series: int = 200) -> None:
        self.address = address
        self.requests = Admission(max_series)
        self.hosts = Admission(max_series)

    def render(self, con, now: datetime) -> str:
        lines: list[str] = []
        raw = request_totals(con, self.address)
        totals = self.requests.apply(raw, (OTHER, OTHER, OTHER), lambda v: v[0])
        keys = sorted(totals)
        names = ("endpoint", "method", "status")
        lab = {k: list(zip(names, k, strict=True)) for k in keys}

        def family(name, kind, help_text):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        def counter(name, field, help_text):
            family(name, "counter", help_text)
            for k in keys:
                lines.append(f"{name}{_labels(lab[k])} {_num(totals[k][_AT[field]])}")

        def histogram(name, prefix, sum_field, help_text):
            family(name, "histogram", help_text)
            for k in keys:
                v = totals[k]
                for i, le in enumerate(QM.BUCKETS_S):
                    labels = _labels([*lab[k], ("le", repr(le))])
                    lines.append(f"{name}_bucket{labels} {_num(v[_AT[f'{prefix}{i}']])}")
                labels = _labels([*lab[k], ("le", "+Inf")])
                lines.append(f"{name}_bucket{labels} {_num(v[0])}")
                lines.append(f"{name}_sum{_labels(lab[k])} {_num(v[_AT[sum_field]])}")
                lines.append(f"{name}_count{_labels(lab[k])} {_num(v[0])}")

        counter("otel_perf_http_requests_total", "count", "Requests handled (weighted).")
        histogram(
            "otel_perf_http_request_duration_seconds", "d", "duration_sum", "Request duration."
        )
        counter("otel_perf_db_queries_total", "db_queries", "DB statements run by requests.")
        histogram(
            "otel_perf_db_time_per_request_seconds",
            "q",
            "db_time_sum",
            "Time a request spent in DB statements.",
        )
        counter(
            "otel_perf_n_plus_one_requests_total", "n_plus_one", "Requests with an N+1 finding."
        )

        recent = con.execute(QM.RECENT_N_PLUS_ONE, {"since": now - RECENT}).fetchone()[0]
        family(
            "otel_perf_n_plus_one_recent_requests",
            "gauge",
            "Requests with an N+1 finding in the last 5 minutes.",
        )
        lines.append(f"otel_perf_n_plus_one_recent_requests {_num(float(recent or 0))}")

        open_alerts = dict.fromkeys(SEVERITIES, 0)
        for severity, n in con.execute(Q.OPEN_ALERT_COUNTS).fetchall():
            if severity in open_alerts:
                open_alerts[severity] = n
        family("otel_perf_open_alerts", "gauge", "Open alerts by severity.")
        for severity, n in open_alerts.items():
            lines.append(f"otel_perf_open_alerts{_labels([('severity', severity)])} {n}")

        hosts: dict[str, list] = {}
        for row in con.execute(Q.LATEST_SYSTEM_SAMPLES, {"since": now - RECENT}).fetchall():
            host = row[0] or ""
            self.hosts.apply({host: 0}, OTHER)  # admission only
            target = host if host in self.hosts.admitted else OTHER
            # Percentages of several hosts are not summed into (other): the worst is kept.
            have = hosts.setdefault(target, [None, None, None])
            for i, value in enumerate(row[1:4]):
                if value is not None and (have[i] is None or value > have[i]):
                    have[i] = value
        for i, (name, help_text) in enumerate(
            (
                ("otel_perf_system_cpu_percent", "Host CPU use, latest sample (last 5 min)."),
                ("otel_perf_system_memory_percent", "Host memory use, latest sample."),
                ("otel_perf_system_disk_percent", "Disk use of the data folder, latest sample."),
            )
        ):
            family(name, "gauge", help_text)
            for host in sorted(hosts):
                if hosts[host][i] is not None:
                    lines.append(f"{name}{_labels([('host', host)])} {_num(hosts[host][i])}")
        family(
            "otel_perf_metrics_overflow_series",
            "gauge",
            "Label sets beyond OTEL_PERF_PROMETHEUS_MAX_SERIES, summed into (other).",
        )
        overflow = sum(1 for k in raw if k not in self.requests.admitted)
        lines.append(f"otel_perf_metrics_overflow_series {overflow}")
        return "\n".join(lines) + "\n"


# -- the standalone service's route -----------------------------------------------------------
def starlette_routes(service) -> list:
    """``GET /metrics`` for ``otel-perf serve``: a read token (``Authorization: Bearer``; the
    scrape config's ``authorization.credentials``) unless the reports are public."""
    from datetime import UTC

    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import Route

    from otel_perf.storage import StoreUnavailable
    from query_api import auth

    exporter = MetricsExporter(service.store.address, service.settings.prometheus_max_series)

    def scrape() -> str:
        now = datetime.fromtimestamp(service.clock(), UTC).replace(tzinfo=None)
        with service.store.cursor() as con:
            return exporter.render(con, now)

    async def metrics(request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        client_ip = request.client.host if request.client else None
        who = auth.from_headers(headers, service.tokens, client_ip)
        if not (who.at_least(auth.READ) or service.settings.api_public):
            return Response(
                "a read token is required\n", 401, {"WWW-Authenticate": "Bearer"}, "text/plain"
            )
        try:
            body = await run_in_threadpool(scrape)
        except StoreUnavailable as exc:
            return Response(f"store unavailable: {exc}\n", 503, {"Retry-After": "5"}, "text/plain")
        return Response(body, 200, {"Cache-Control": "no-store"}, media_type=CONTENT_TYPE)

    return [Route("/metrics", metrics, methods=["GET"])]


# -- Django (optional) ------------------------------------------------------------------------
_django_exporter: MetricsExporter | None = None
_django_lock = threading.Lock()


def django_view(request):
    """``path("metrics", django_view)`` in a Django URLconf: the same ``/metrics`` with
    Django's users (staff, or the ``otel_perf.view_performance`` permission) or a read token."""
    from datetime import UTC

    from django.http import HttpResponse

    from otel_perf.django.views import get_service, principal_for
    from otel_perf.storage import StoreUnavailable
    from query_api import auth

    global _django_exporter
    service = get_service()
    headers = {k.lower(): v for k, v in request.headers.items()}
    who = principal_for(request, headers, service)
    if not (who.at_least(auth.READ) or service.settings.api_public):
        response = HttpResponse("a read token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = "Bearer"
        return response
    with _django_lock:
        if _django_exporter is None:
            _django_exporter = MetricsExporter(
                service.store.address, service.settings.prometheus_max_series
            )
    now = datetime.fromtimestamp(service.clock(), UTC).replace(tzinfo=None)
    try:
        with service.store.cursor() as con:
            body = _django_exporter.render(con, now)
    except StoreUnavailable as exc:
        return HttpResponse(f"store unavailable: {exc}\n", status=503, content_type="text/plain")
    response = HttpResponse(body, content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
