"""``path("graphql/performance/", include("otel_perf.django.urls"))``: the spec's endpoint at
the prefix itself, every other report below it (``summary/``, ``endpoints/<route>``, …) and
the dashboard at ``dashboard/``."""

from django.urls import path, re_path

from otel_perf.django.views import dashboard_static, dashboard_view, make_view
from query_api.routes import REST_ROUTES

app_name = "otel_perf"


def _pattern(route):
    if route.path_param:
        prefix = route.path.removesuffix("{path}")
        return re_path(f"^{prefix}(?P<path>.+)$", make_view(route))
    return path(route.path + "/", make_view(route), name=route.path.replace("-", "_"))


urlpatterns = [
    path("", make_view(None), name="performance"),
    path("dashboard/", dashboard_view, name="dashboard"),
    path("dashboard/static/<str:name>", dashboard_static, name="dashboard_static"),
] + [_pattern(r) for r in REST_ROUTES]
