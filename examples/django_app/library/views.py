"""JSON views with known query patterns: the demo, the tests and the benchmarks rely on them.

None of them touches ``request.user``: that would add session and user queries.
"""

import json
import os
import time

from django.contrib.auth import authenticate, login
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from library.models import Author, Book

# Queries each view runs on the seeded data (10 authors, 3 books each), for a client without
# a session cookie. /books/create/ is a POST; the others are GETs. /login/ and /me/ are left
# out on purpose: their count depends on the session (that is what they exist to show).
EXPECTED_QUERIES = {
    "/books/": 1,
    "/books/n-plus-one/": 11,  # 1 for the authors + 1 per author
    "/books/optimized/": 2,  # authors, then all their books in one IN (...) query
    "/books/1/": 1,
    "/books/9999/": 1,  # the lookup that finds nothing, then 404
    "/books/create/": 1,
    "/slow/": 1,
    "/error/": 0,
    "/health/": 0,
}


@require_GET
def book_list(request):
    """Clean: one query with a join."""
    books = Book.objects.select_related("author")
    return JsonResponse({"books": [{"title": b.title, "author": b.author.name} for b in books]})


@require_GET
def books_n_plus_one(request):
    """N+1: one query for the authors, then one per author for their books."""
    data = [
        {"author": a.name, "books": [b.title for b in a.books.all()]}
        for a in Author.objects.order_by("id")
    ]
    return JsonResponse({"authors": data})


@require_GET
def books_optimized(request):
    """The same data as the N+1 view in two queries (prefetch_related)."""
    data = [
        {"author": a.name, "books": [b.title for b in a.books.all()]}
        for a in Author.objects.order_by("id").prefetch_related("books")
    ]
    return JsonResponse({"authors": data})


@require_GET
def book_detail(request, pk):
    book = get_object_or_404(Book.objects.select_related("author"), pk=pk)
    return JsonResponse(
        {"title": book.title, "author": book.author.name, "published": book.published}
    )


@csrf_exempt
@require_POST
def book_create(request):
    payload = json.loads(request.body or b"{}")
    book = Book.objects.create(
        title=payload["title"],
        author_id=payload["author_id"],
        published=payload.get("published", 2024),
    )
    return JsonResponse({"id": book.pk}, status=201)


@require_GET
def slow(request):
    time.sleep(float(os.environ.get("EXAMPLE_SLOW_SECONDS", "1.2")))
    return JsonResponse({"books": Book.objects.count()})


@require_GET
def error(request):
    raise RuntimeError("example failure")


@require_GET
def health(request):
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_POST
def login_view(request):
    """Session login for the examples (JSON {"username", "password"})."""
    payload = json.loads(request.body or b"{}")
    user = authenticate(request, username=payload.get("username"), password=payload.get("password"))
    if user is None:
        return JsonResponse({"error": "invalid credentials"}, status=401)
    login(request, user)
    return JsonResponse({"id": user.pk})


@require_GET
def me(request):
    """Reads request.user, so the request evaluates the lazy user (session + user queries)."""
    if not request.user.is_authenticated:
        return JsonResponse({"authenticated": False}, status=401)
    return JsonResponse({"authenticated": True, "username": request.user.get_username()})
