"""GraphQL on the FastAPI example: Strawberry's ASGI integration (``GraphQLRouter``) over the
same SQLAlchemy models. ``authors { books }`` lazy-loads each author's books: an N+1 that
otel-perf attributes to the field path ``authors.books``; ``authorsOptimized`` loads them
with ``selectinload`` (2 statements)."""

from __future__ import annotations

import strawberry
from db import Author, SessionLocal
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from strawberry.fastapi import GraphQLRouter


@strawberry.type
class BookType:
    title: str


@strawberry.type
class AuthorType:
    name: str
    model: strawberry.Private[Author]

    @strawberry.field
    def books(self) -> list[BookType]:
        return [BookType(title=b.title) for b in self.model.books]


@strawberry.type
class Query:
    @strawberry.field
    def authors(self, info: strawberry.Info) -> list[AuthorType]:
        authors = info.context["session"].scalars(select(Author).order_by(Author.id))
        return [AuthorType(name=a.name, model=a) for a in authors]

    @strawberry.field
    def authors_optimized(self, info: strawberry.Info) -> list[AuthorType]:
        query = select(Author).options(selectinload(Author.books)).order_by(Author.id)
        return [AuthorType(name=a.name, model=a) for a in info.context["session"].scalars(query)]


def get_context():
    session = SessionLocal()
    try:
        yield {"session": session}
    finally:
        session.close()


schema = strawberry.Schema(query=Query)
router = GraphQLRouter(schema, context_getter=get_context)
