"""``path("graphql/performance/", include("otel_perf.django.urls"))``: the spec's endpoint at
the prefix itself and every other report below it (``summary/``, ``endpoints/<route>``, …)."""

from django.urls import path, re_path

from otel_perf.django.views import make_view
from query_api.routes import REST_ROUTES

app_name = "otel_perf"


def _pattern(route):
    if route.path_param:
        prefix = route.path.removesuffix("{path}")
        return re_path(f"^{prefix}(?P<path>.+)$", make_view(route))
    return path(route.path + "/", make_view(route), name=route.path.replace("-", "_"))


urlpatterns = [path("", make_view(None), name="performance")] + [_pattern(r) for r in REST_ROUTES]
