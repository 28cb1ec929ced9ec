"""The example's database: two tables, a sync engine and (where the driver allows) an async one.

Environment:
- ``EXAMPLE_DATABASE_URL``: a SQLAlchemy URL (default ``sqlite:///example.sqlite3`` here);
  ``postgresql+psycopg://user@host:5432/db`` gives both engines on psycopg 3.
- ``EXAMPLE_DB_SCHEMA``: PostgreSQL schema for the tables (its ``search_path``), so several
  runs share one database without clashing.
- ``EXAMPLE_POOL_SIZE`` / ``EXAMPLE_MAX_OVERFLOW`` / ``EXAMPLE_POOL_TIMEOUT``: the pools'.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import ForeignKey, String, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

DATABASE_URL = make_url(os.environ.get("EXAMPLE_DATABASE_URL", "sqlite:///example.sqlite3"))
SCHEMA = os.environ.get("EXAMPLE_DB_SCHEMA", "")
IS_POSTGRES = DATABASE_URL.get_backend_name() == "postgresql"
if IS_POSTGRES and DATABASE_URL.drivername == "postgresql":
    DATABASE_URL = DATABASE_URL.set(drivername="postgresql+psycopg")  # psycopg 3, not 2
POOL = {
    "pool_size": int(os.environ.get("EXAMPLE_POOL_SIZE", "5")),
    "max_overflow": int(os.environ.get("EXAMPLE_MAX_OVERFLOW", "10")),
    "pool_timeout": float(os.environ.get("EXAMPLE_POOL_TIMEOUT", "30")),
}


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    published: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)
    author: Mapped[Author] = relationship(back_populates="books")


def _connect_args() -> dict:
    if IS_POSTGRES and SCHEMA:
        return {"options": f"-c search_path={SCHEMA}"}
    return {}


def _sqlite_sleep(seconds: float) -> int:
    time.sleep(seconds)
    return 0


def make_sync_engine():
    engine = create_engine(DATABASE_URL, connect_args=_connect_args(), **POOL)
    if DATABASE_URL.get_backend_name() == "sqlite":
        # sqlite has no sleep(): the slow endpoint's statement calls this one.
        @event.listens_for(engine, "connect")
        def _functions(dbapi_connection, _record):
            dbapi_connection.create_function("sleep", 1, _sqlite_sleep)

    return engine


def make_async_engine():
    """None where this environment has no async driver for the URL."""
    if DATABASE_URL.drivername != "postgresql+psycopg":
        return None
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(DATABASE_URL, connect_args=_connect_args(), **POOL)


SLEEP_SQL = "SELECT pg_sleep(:seconds)" if IS_POSTGRES else "SELECT sleep(:seconds)"

engine = make_sync_engine()
SessionLocal = sessionmaker(engine, expire_on_commit=False)
