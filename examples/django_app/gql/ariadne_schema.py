"""The schema in Ariadne (schema-first, from schema.graphql; served at /ariadne/)."""

from pathlib import Path

from ariadne import MutationType, ObjectType, QueryType, make_executable_schema

from gql import resolvers

query = QueryType()
mutation = MutationType()
author = ObjectType("Author")
book = ObjectType("Book")

query.set_field("bookCount", lambda *_: resolvers.book_count())
query.set_field("book", lambda _, info, id: resolvers.book(id))
query.set_field("books", lambda _, info, first=None: resolvers.books(first))
query.set_field("authors", lambda _, info, first=None: resolvers.authors(first))
query.set_field("authorsOptimized", lambda _, info, first=None: resolvers.authors_optimized(first))
query.set_field("cachedBookCount", lambda *_: resolvers.cached_book_count())
query.set_field("slow", lambda _, info, ms: resolvers.slow(ms))
query.set_field("failing", lambda *_: resolvers.failing())
author.set_field("books", lambda obj, info, first=None: resolvers.author_books(obj, first))
book.set_field("author", lambda obj, info: resolvers.book_author(obj))
mutation.set_field(
    "createBook",
    lambda _, info, title, authorId, published: resolvers.create_book(title, authorId, published),
)
mutation.set_field("login", lambda _, info, username, password: resolvers.login(username, password))

schema = make_executable_schema(
    (Path(__file__).parent / "schema.graphql").read_text(), query, mutation, author, book
)
