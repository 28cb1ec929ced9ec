"""The FastAPI example: JSON endpoints with known statement counts, on SQLAlchemy 2.0.

Sync endpoints (``def``, run in Starlette's thread pool) use the sync engine; ``/async/...``
endpoints use the async engine (PostgreSQL with psycopg 3). Run it unchanged under
``opentelemetry-instrument uvicorn app:app`` (see README.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from typing import Annotated

from db import SLEEP_SQL, Author, Book, SessionLocal, engine, make_async_engine
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, joinedload, selectinload

SLOW_SECONDS = float(os.environ.get("EXAMPLE_SLOW_SECONDS", "1.1"))

# Statements each endpoint runs on the seeded data (10 authors, 3 books each); the same for
# the /async/ twins. The tests check the store against SQLAlchemy's own count (the ledger).
EXPECTED_STATEMENTS = {
    "/books": 1,
    "/books/n-plus-one": 11,  # 1 for the authors + 1 lazy load per author
    "/books/optimized": 2,  # authors, then all their books (selectinload)
    "/books/1": 1,
    "/books/9999": 1,  # the lookup that finds nothing, then 404
    "/slow": 1,  # one slow statement (pg_sleep / sleep)
    "/error": 0,
    "/pool/hold": 1,
    "/health": 0,
}

async_engine = make_async_engine()


@contextlib.asynccontextmanager
async def lifespan(_app):
    # Connect once at start-up: SQLAlchemy's dialect runs its own statements (server version,
    # isolation level) on an engine's first connection, which would otherwise land in the
    # first request (counted there: the driver's spans see them, SQLAlchemy's events do not).
    with engine.connect():
        pass
    if async_engine is not None:
        async with async_engine.connect():
            pass
    yield
    engine.dispose()
    if async_engine is not None:
        await async_engine.dispose()


app = FastAPI(title="otel-perf FastAPI example", lifespan=lifespan)


def get_session():
    with SessionLocal() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


def book_json(book: Book) -> dict:
    return {"id": book.id, "title": book.title, "author": book.author.name}


def authors_json(authors) -> dict:
    return {"authors": [{"author": a.name, "books": [b.title for b in a.books]} for a in authors]}


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/books")
def book_list(session: DbSession):
    """Clean: one statement with a join."""
    books = session.scalars(select(Book).options(joinedload(Book.author)).order_by(Book.id))
    return {"books": [book_json(b) for b in books]}


@app.get("/books/n-plus-one")
def books_n_plus_one(session: DbSession):
    """N+1: the authors, then each author's books by lazy loading."""
    return authors_json(session.scalars(select(Author).order_by(Author.id)).all())


@app.get("/books/optimized")
def books_optimized(session: DbSession):
    """The same data in two statements (selectinload)."""
    query = select(Author).options(selectinload(Author.books)).order_by(Author.id)
    return authors_json(session.scalars(query).all())


@app.get("/books/{book_id}")
def book_detail(book_id: int, session: DbSession):
    query = select(Book).options(joinedload(Book.author)).where(Book.id == book_id)
    book = session.scalars(query).first()
    if book is None:
        raise HTTPException(status_code=404, detail="no such book")
    return book_json(book) | {"published": book.published}


class NewBook(BaseModel):
    title: str
    author_id: int
    published: int = 2024


@app.post("/books", status_code=201)
def book_create(payload: NewBook, session: DbSession):
    book = Book(title=payload.title, author_id=payload.author_id, published=payload.published)
    session.add(book)
    session.commit()
    return {"id": book.id}


@app.get("/slow")
def slow(session: DbSession):
    """One slow statement (EXAMPLE_SLOW_SECONDS)."""
    session.execute(text(SLEEP_SQL), {"seconds": SLOW_SECONDS})
    return {"slept_s": SLOW_SECONDS}


@app.get("/error")
def error():
    raise RuntimeError("example failure")


@app.get("/pool/hold")
def pool_hold(ms: float = 200.0):
    """Holds one pooled connection for ``ms``: concurrent calls exhaust a small pool."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        time.sleep(ms / 1000.0)
    return {"held_ms": ms}


if async_engine is not None:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    AsyncSessionLocal = async_sessionmaker(async_engine, expire_on_commit=False)

    async def get_async_session():
        async with AsyncSessionLocal() as session:
            yield session

    AsyncDbSession = Annotated[AsyncSession, Depends(get_async_session)]

    @app.get("/async/books")
    async def async_book_list(session: AsyncDbSession):
        books = await session.scalars(
            select(Book).options(joinedload(Book.author)).order_by(Book.id)
        )
        return {"books": [book_json(b) for b in books]}

    @app.get("/async/books/n-plus-one")
    async def async_books_n_plus_one(session: AsyncDbSession):
        """N+1 the async way: each author's books awaited one by one."""
        authors = (await session.scalars(select(Author).order_by(Author.id))).all()
        data = []
        for a in authors:
            books = await a.awaitable_attrs.books
            data.append({"author": a.name, "books": [b.title for b in books]})
        return {"authors": data}

    @app.get("/async/books/optimized")
    async def async_books_optimized(session: AsyncDbSession):
        query = select(Author).options(selectinload(Author.books)).order_by(Author.id)
        return authors_json((await session.scalars(query)).all())

    @app.get("/async/books/{book_id}")
    async def async_book_detail(book_id: int, session: AsyncDbSession):
        query = select(Book).options(joinedload(Book.author)).where(Book.id == book_id)
        book = (await session.scalars(query)).first()
        if book is None:
            raise HTTPException(status_code=404, detail="no such book")
        return book_json(book) | {"published": book.published}

    @app.get("/async/slow")
    async def async_slow(session: AsyncDbSession):
        await session.execute(text(SLEEP_SQL), {"seconds": SLOW_SECONDS})
        return {"slept_s": SLOW_SECONDS}

    @app.get("/async/pool/hold")
    async def async_pool_hold(ms: float = 200.0):
        import asyncio

        async with async_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(ms / 1000.0)
        return {"held_ms": ms}


# -- GraphQL (Strawberry's ASGI integration), when Strawberry is installed ---------------------
try:
    from graphql_api import router as graphql_router
except ImportError:  # the example runs without it; /graphql is then absent
    graphql_router = None
if graphql_router is not None:
    app.include_router(graphql_router, prefix="/graphql")


# -- test mode: SQLAlchemy's own statement events per request (the tests' ground truth) --------
if os.environ.get("EXAMPLE_STATEMENT_LEDGER") == "1":
    _box: contextvars.ContextVar[list | None] = contextvars.ContextVar("ledger", default=None)
    LEDGER: list[dict] = []

    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("ledger_t0", []).append(time.perf_counter())

    def _after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["ledger_t0"].pop()
        box = _box.get()
        if box is not None:
            box.append([statement, (time.perf_counter() - started) * 1000.0])

    for _engine in (engine, async_engine.sync_engine if async_engine is not None else None):
        if _engine is not None:
            event.listen(_engine, "before_cursor_execute", _before)
            event.listen(_engine, "after_cursor_execute", _after)

    class StatementLedger:
        """Pure ASGI middleware: the statements SQLAlchemy executed for a request (text and
        ms) land in LEDGER when it ends, an exception included."""

        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http" or scope["path"] == "/_test/statements":
                return await self.inner(scope, receive, send)
            box: list = []
            token = _box.set(box)
            try:
                await self.inner(scope, receive, send)
            finally:
                _box.reset(token)
                LEDGER.append({"method": scope["method"], "path": scope["path"], "statements": box})

    app.add_middleware(StatementLedger)

    @app.get("/_test/statements")
    def statement_ledger():
        return {"requests": LEDGER}
