"""The documents the demo, the tests and the benchmarks send, with the DB statements each
runs on the seeded data (10 authors, 3 books each) on every server — checked by the example's
own suite against Django's count."""

import importlib.util

BOOK_COUNT = "query BookCount { bookCount }"

GET_BOOK = "query GetBook($id: ID!) { book(id: $id) { id title published } }"

# N+1: one query for the authors, then one per author for its books.
AUTHORS_N_PLUS_ONE = "query AuthorsWithBooks { authors { name books { title } } }"

# The same data, prefetched: two queries.
AUTHORS_OPTIMIZED = "query AuthorsOptimized { authorsOptimized { name books { title } } }"

# Deep and costly on paper (complexity over 100), cheap in queries: books are joined to
# their authors and each author's books is one query per book (1 + 4: under the N+1
# threshold of 5, so not an N+1).
DEEP = """
query DeepBooks {
  books(first: 4) {
    title
    author { name books(first: 25) { title author { name } } }
  }
}
"""

# Fragments and aliases: the same list field twice under two aliases, one through a fragment.
# firstTwo: one query for the authors, then one per author for its books (2: under the N+1
# threshold of 5); nextThree: one more query.
AUTHORS_ALIASED = """
query AuthorsAliased {
  firstTwo: authors(first: 2) { ...AuthorWithBooks }
  nextThree: authors(first: 3) { name }
}
fragment AuthorWithBooks on Author { name books { title } }
"""

CACHED = "query CachedCount { cachedBookCount }"

FAILING = "query Failing { bookCount failing }"

CREATE_BOOK = """
mutation CreateBook($title: String!, $authorId: ID!, $published: Int!) {
  createBook(title: $title, authorId: $authorId, published: $published) { id title }
}
"""

LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password)
}
"""

SLOW = "query Slow($ms: Int!) { slow(ms: $ms) }"

# Queries each document runs on the seeded data (CACHED: on a cold cache; warm: 0).
EXPECTED_QUERIES = {
    "BookCount": 1,
    "GetBook": 1,
    "AuthorsWithBooks": 11,
    "AuthorsOptimized": 2,
    "DeepBooks": 5,
    "AuthorsAliased": 4,
    "CachedCount": 1,
    "Failing": 1,
    "CreateBook": 1,
    "Login": 1,
    "Slow": 0,
}

# What the async Strawberry schema serves (queries only).
ASYNC_DOCUMENTS = (
    "BookCount",
    "GetBook",
    "AuthorsWithBooks",
    "AuthorsOptimized",
    "DeepBooks",
    "AuthorsAliased",
    "CachedCount",
    "Failing",
)

# The GraphQL endpoints of the example project, for the server libraries installed.
_ALL_ENDPOINTS = {
    "graphene": ("/graphql/", "graphene_django"),
    "strawberry": ("/strawberry/", "strawberry"),
    "strawberry-async": ("/strawberry-async/", "strawberry"),
    "ariadne": ("/ariadne/", "ariadne"),
}
ENDPOINTS = {
    server: endpoint
    for server, (endpoint, package) in _ALL_ENDPOINTS.items()
    if importlib.util.find_spec(package) is not None
}
