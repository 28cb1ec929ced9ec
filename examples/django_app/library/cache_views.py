"""Views that use Django's cache, with known hits and misses per request (docs/cache.md).

The backend is the project's ``default`` cache: local memory, or Redis with EXAMPLE_CACHE=redis
(mysite/settings.py). Local memory is per process: with several workers each has its own.
"""

from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from library.models import Book

BOOKS_KEY = "library:books"


@require_GET
def cached_books(request):
    """The book list from the cache: the first request misses and fills it, the next ones hit."""
    books = cache.get(BOOKS_KEY)
    if books is None:
        books = [
            {"title": b.title, "author": b.author.name}
            for b in Book.objects.select_related("author")
        ]
        cache.set(BOOKS_KEY, books, timeout=300)
    return JsonResponse({"books": books})


@require_GET
def cache_mixed(request):
    """The same 1 hit and 2 misses on every request, whatever the cache held before."""
    cache.delete("mixed:key")
    first = cache.get("mixed:key")  # miss
    cache.set("mixed:key", 1)
    second = cache.get("mixed:key")  # hit
    present = cache.has_key("mixed:absent")  # miss
    return JsonResponse({"first": first, "second": second, "present": present})


@require_GET
async def cache_async(request):
    """The async API (aget/aset): 1 hit and 1 miss on every request."""
    await cache.adelete("async:key")
    first = await cache.aget("async:key")  # miss
    await cache.aset("async:key", "value")
    second = await cache.aget("async:key")  # hit
    return JsonResponse({"first": first, "second": second})
