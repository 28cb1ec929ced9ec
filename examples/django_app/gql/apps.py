from django.apps import AppConfig


class GqlConfig(AppConfig):
    name = "gql"
    verbose_name = "One GraphQL schema served by Graphene, Strawberry and Ariadne"
