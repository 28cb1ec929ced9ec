"""The schema in Strawberry (sync view at /strawberry/, async view at /strawberry-async/)."""

from __future__ import annotations

import strawberry

from gql import resolvers


@strawberry.type(name="Book")
class BookType:
    id: strawberry.ID
    title: str
    published: int
    _book: strawberry.Private[object]

    @strawberry.field
    def author(self) -> AuthorType:
        return AuthorType.of(resolvers.book_author(self._book))

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
    def books(self, first: int | None = None) -> list[BookType]:
        return [BookType.of(b) for b in resolvers.author_books(self._author, first)]

    @staticmethod
    def of(author) -> AuthorType:
        return AuthorType(id=strawberry.ID(str(author.pk)), name=author.name, _author=author)


@strawberry.type
class Query:
    @strawberry.field
    def book_count(self) -> int:
        return resolvers.book_count()

    @strawberry.field
    def book(self, id: strawberry.ID) -> BookType | None:
        found = resolvers.book(id)
        return BookType.of(found) if found else None

    @strawberry.field
    def books(self, first: int | None = None) -> list[BookType]:
        return [BookType.of(b) for b in resolvers.books(first)]

    @strawberry.field
    def authors(self, first: int | None = None) -> list[AuthorType]:
        return [AuthorType.of(a) for a in resolvers.authors(first)]

    @strawberry.field
    def authors_optimized(self, first: int | None = None) -> list[AuthorType]:
        return [AuthorType.of(a) for a in resolvers.authors_optimized(first)]

    @strawberry.field
    def cached_book_count(self) -> int:
        return resolvers.cached_book_count()

    @strawberry.field
    def slow(self, ms: int) -> int:
        return resolvers.slow(ms)

    @strawberry.field
    def failing(self) -> int | None:
        return resolvers.failing()


@strawberry.type
class Mutation:
    @strawberry.mutation
    def create_book(self, title: str, author_id: strawberry.ID, published: int) -> BookType:
        return BookType.of(resolvers.create_book(title, author_id, published))

    @strawberry.mutation
    def login(self, username: str, password: str) -> bool:
        return resolvers.login(username, password)


schema = strawberry.Schema(query=Query, mutation=Mutation)
