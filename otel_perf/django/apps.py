"""``INSTALLED_APPS += ["otel_perf.django"]`` mounts the report views and the permission."""

from django.apps import AppConfig


class OtelPerfConfig(AppConfig):
    name = "otel_perf.django"
    label = "otel_perf"  # permissions read "otel_perf.view_performance"
    verbose_name = "otel-perf"
    default_auto_field = "django.db.models.AutoField"
