"""``path("graphql/performance/", include("otel_perf.django.urls"))``: the spec's endpoint at
the prefix itself, every other report below it (``summary/``, ``endpoints/<route>``, …) and
the dashboard at ``dashboard/``.

The last pattern answers any other path below the prefix that ends in ``/`` with the API's
JSON 404 (rate limited, like every answer) instead of Django's HTML page. It matches only
paths ending in ``/`` so that APPEND_SLASH keeps working: ``summary`` matches nothing, and
CommonMiddleware redirects it to ``summary/`` (and ``nothing`` to ``nothing/``, the JSON 404).
Mount the include under a prefix of its own: every path ending in ``/`` below it is taken."""

from django.urls import path, re_path

from otel_perf.django.views import dashboard_static, dashboard_view, make_view, not_found
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
urlpatterns.append(re_path(r"^.*/$", not_found))  # last: see above
