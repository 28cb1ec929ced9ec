"""``python manage.py monitor_performance [--interval 60] [--duration 60] [--save]`` (seed 001).

The same live view as ``otel-perf monitor`` (otel_perf/commands/monitor.py), on the store the
Django settings name (``OTEL_PERF = {"store": ...}`` or ``OTEL_PERF_STORE``).
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.core.management.base import BaseCommand

from otel_perf.commands.monitor import add_options, run_monitor


class Command(BaseCommand):
    help = "A live view of request rate, latency, errors, endpoints, alerts and system metrics."

    def add_arguments(self, parser) -> None:
        add_options(parser.add_argument)
        parser.add_argument("--store", default=None, help="the store (default: the settings')")

    def handle(self, *args, **options) -> None:
        from otel_perf.settings import load_settings

        settings = load_settings(django_options=getattr(django_settings, "OTEL_PERF", None) or {})
        store = options["store"] or settings.store
        run_monitor(
            store, options["interval"], options["duration"], options["save"], None, settings
        )
