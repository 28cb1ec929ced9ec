"""The schema's behaviour, shared by the three server libraries so the same documents run
the same queries on each. Every query pattern here is deliberate: the demo, the tests and the
benchmarks rely on the counts in ``documents.py``."""

import time

from django.contrib.auth import get_user_model
from django.core.cache import cache
from library.models import Author, Book


def book_count() -> int:
    return Book.objects.count()


def book(id) -> Book | None:
    return Book.objects.filter(pk=int(id)).first()


def books(first=None):
    # select_related: a book's author costs no extra query.
    queryset = Book.objects.select_related("author")
    return list(queryset[:first] if first is not None else queryset)


def authors(first=None):
    # No prefetch: each author's books is one more query (the N+1 the tests look for).
    queryset = Author.objects.order_by("id")
    return list(queryset[:first] if first is not None else queryset)


def authors_optimized(first=None):
    queryset = Author.objects.order_by("id").prefetch_related("books")
    return list(queryset[:first] if first is not None else queryset)


def author_books(author: Author, first=None):
    # Served from the prefetch cache when the parent prefetched, else one query.
    related = author.books.all()
    return list(related[:first] if first is not None else related)


def book_author(book: Book) -> Author:
    return book.author


def cached_book_count() -> int:
    """A cache read; a miss counts the books (one query) and fills the cache."""
    value = cache.get("gql:book_count")
    if value is None:
        value = Book.objects.count()
        cache.set("gql:book_count", value, 300)
    return value


def slow(ms: int) -> int:
    time.sleep(ms / 1000.0)
    return ms


def failing():
    raise ValueError("this field always fails")


def create_book(title: str, author_id, published: int) -> Book:
    return Book.objects.create(title=title, author_id=int(author_id), published=published)


def login(username: str, password: str) -> bool:
    """Takes a password on purpose: the tests check that it never reaches the store."""
    return get_user_model().objects.filter(username=username).exists() and bool(password)
