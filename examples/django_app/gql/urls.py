"""One schema, each server library that is installed (graphql-core 3.3 environments have
Strawberry but no Graphene, for one)."""

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from gql.documents import ENDPOINTS

urlpatterns = []

if "graphene" in ENDPOINTS:
    from graphene_django.views import GraphQLView as GrapheneView

    from gql.graphene_schema import schema as graphene_schema

    view = csrf_exempt(GrapheneView.as_view(schema=graphene_schema))
    urlpatterns.append(path("graphql/", view, name="graphene"))

if "strawberry" in ENDPOINTS:
    from strawberry.django.views import AsyncGraphQLView
    from strawberry.django.views import GraphQLView as StrawberryView

    from gql.strawberry_async_schema import schema as strawberry_async_schema
    from gql.strawberry_schema import schema as strawberry_schema

    urlpatterns += [
        path("strawberry/", csrf_exempt(StrawberryView.as_view(schema=strawberry_schema))),
        path(
            "strawberry-async/",
            csrf_exempt(AsyncGraphQLView.as_view(schema=strawberry_async_schema)),
        ),
    ]

if "ariadne" in ENDPOINTS:
    from gql.views import ariadne_view

    urlpatterns.append(path("ariadne/", ariadne_view, name="ariadne"))
