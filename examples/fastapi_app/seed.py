"""Create the example's tables (in ``EXAMPLE_DB_SCHEMA`` on PostgreSQL) and seed them: 10 authors
with 3 books each. Re-runnable: the rows are replaced. ``python seed.py [--drop]``."""

from __future__ import annotations

import sys

from db import IS_POSTGRES, SCHEMA, Author, Base, Book, SessionLocal, engine
from sqlalchemy import text

AUTHORS = 10
BOOKS_PER_AUTHOR = 3


def drop() -> None:
    if IS_POSTGRES and SCHEMA:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    else:
        Base.metadata.drop_all(engine)


def seed() -> None:
    if IS_POSTGRES and SCHEMA:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
    Base.metadata.create_all(engine)
    with SessionLocal.begin() as session:
        session.query(Book).delete()
        session.query(Author).delete()
        for a in range(1, AUTHORS + 1):
            session.add(Author(id=a, name=f"Author {a}"))
        session.flush()
        for a in range(1, AUTHORS + 1):
            for b in range(BOOKS_PER_AUTHOR):
                book_id = (a - 1) * BOOKS_PER_AUTHOR + b + 1
                session.add(
                    Book(id=book_id, title=f"Book {book_id}", published=1990 + b, author_id=a)
                )
    if IS_POSTGRES:
        # Explicit ids above: move the sequences past them for POST /books.
        with engine.begin() as conn:
            for table in ("authors", "books"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )


if __name__ == "__main__":
    drop() if "--drop" in sys.argv[1:] else seed()
    engine.dispose()
