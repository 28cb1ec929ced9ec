"""An async Strawberry schema (served by AsyncGraphQLView at /strawberry-async/).

Django's ORM is synchronous: every resolver runs its database work through
``sync_to_async``, as async Django code must. Covers the query documents of ``documents.py``
(not the mutations or Slow)."""

from __future__ import annotations

import strawberry
from asgiref.sync import sync_to_async

from gql import resolvers


def run(function, *args):
    return sync_to_async(function, thread_sensitive=True)(*args)


@strawberry.type(name="Book")
class BookType:
    id: strawberry.ID
    title: str
    published: int
    _book: strawberry.Private[object]

    @strawberry.field
    async def author(self) -> AuthorType:
        return AuthorType.of(await run(resolvers.book_author, self._book))

    @staticmethod
    def of(book) -> BookType:
        return BookType(
            id=strawberry.ID(str(book.pk)), title=book.title, published=book.published, _book=book
        )


@strawberry.type(name="Author")
class AuthorType:
    id: strawberry.ID
    name: str
    _author: strawberry.Private[object]

    @strawberry.field
    async def books(self, first: int | None = None) -> list[BookType]:
        return [BookType.of(b) for b in await run(resolvers.author_books, self._author, first)]

    @staticmethod
    def of(author) -> AuthorType:
        return AuthorType(id=strawberry.ID(str(author.pk)), name=author.name, _author=author)


@strawberry.type
class Query:
    @strawberry.field
    async def book_count(self) -> int:
        return await run(resolvers.book_count)

    @strawberry.field
    async def book(self, id: strawberry.ID) -> BookType | None:
        found = await run(resolvers.book, id)
        return BookType.of(found) if found else None

    @strawberry.field
    async def books(self, first: int | None = None) -> list[BookType]:
        return [BookType.of(b) for b in await run(resolvers.books, first)]

    @strawberry.field
    async def authors(self, first: int | None = None) -> list[AuthorType]:
        return [AuthorType.of(a) for a in await run(resolvers.authors, first)]

    @strawberry.field
    async def authors_optimized(self, first: int | None = None) -> list[AuthorType]:
        return [AuthorType.of(a) for a in await run(resolvers.authors_optimized, first)]

    @strawberry.field
    async def cached_book_count(self) -> int:
        return await run(resolvers.cached_book_count)

    @strawberry.field
    async def failing(self) -> int | None:
        return await run(resolvers.failing)


schema = strawberry.Schema(query=Query)
