"""Ariadne has no Django view of its own (ariadne-django is a separate project): this is the
usual thin one. Graphene and Strawberry bring theirs (see urls.py)."""

import json

from ariadne import graphql_sync
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gql.ariadne_schema import schema


@csrf_exempt
@require_POST
def ariadne_view(request):
    try:
        data = json.loads(request.body)
    except ValueError:
        return JsonResponse({"errors": [{"message": "the body is not JSON"}]}, status=400)
    success, result = graphql_sync(schema, data, context_value={"request": request})
    return JsonResponse(result, status=200 if success else 400)
