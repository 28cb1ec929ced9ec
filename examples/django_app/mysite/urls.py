from django.conf import settings
from django.urls import include, path

urlpatterns = [
    path("graphql/performance/", include("otel_perf.django.urls")),
    path("", include("library.urls")),
    path("", include("gql.urls")),
]

# django-silk as its docs install it, only for the overhead benchmark (EXAMPLE_SILK=1).
if "silk" in settings.INSTALLED_APPS:
    urlpatterns.append(path("silk/", include("silk.urls", namespace="silk")))
