from django.urls import include, path

urlpatterns = [
    path("graphql/performance/", include("otel_perf.django.urls")),
    path("", include("library.urls")),
    path("", include("gql.urls")),
]
