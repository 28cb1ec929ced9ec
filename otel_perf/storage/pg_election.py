"""Elections for a store whose DuckLake catalog is in PostgreSQL: an advisory lock.

File locks (``flock``) do not span hosts, and not reliably a network folder either. With the
catalog in PostgreSQL, the database every host already talks to elects: a session-level
``pg_try_advisory_lock`` held while the job runs (PostgreSQL releases it when the session
ends, the holder's death included), and the time and state of the last run in a small table
beside the catalog. One otel-perf store per PostgreSQL database (the lock keys are per job
name).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

CREATE = (
    "CREATE TABLE IF NOT EXISTS otel_perf_elections "
    "(name text PRIMARY KEY, last_run double precision NOT NULL, state text NOT NULL)"
)
READ = "SELECT last_run, state FROM otel_perf_elections WHERE name = %s"
WRITE = (
    "INSERT INTO otel_perf_elections (name, last_run, state) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run, state = excluded.state"
)
TRY_LOCK = "SELECT pg_try_advisory_lock(%s)"
UNLOCK = "SELECT pg_advisory_unlock(%s)"


def lock_key(name: str) -> int:
    digest = hashlib.blake2b(f"otel-perf:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _connect(conninfo: str):
    import psycopg  # the postgres extra; imported only for PostgreSQL-catalog stores

    return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)


def run_if_due(lock, conninfo: str, name: str, interval_s, action: Callable) -> bool:
    """``MaintenanceLock.run_if_due`` for PostgreSQL; sets ``lock``'s previous/next state."""
    try:
        con = _connect(conninfo)
    except Exception:  # PostgreSQL unreachable: not elected this time
        return False
    try:
        key = lock_key(name)
        if not con.execute(TRY_LOCK, [key]).fetchone()[0]:
            return False
        con.execute(CREATE)
        row = con.execute(READ, [name]).fetchone()
        previous, state = (row[0], row[1]) if row else (0.0, "")
        from otel_perf.storage.maintenance import interval_for

        if lock._clock() - previous < interval_for(interval_s, state):
            return False
        lock.previous_run, lock.previous_state, lock.next_state = previous, state, state
        action()
        con.execute(WRITE, [name, lock._clock(), lock.next_state])
        return True
    finally:
        con.close()  # ends the session: the advisory lock goes with it


def busy(conninfo: str, name: str) -> bool:
    try:
        con = _connect(conninfo)
    except Exception:
        return False
    try:
        key = lock_key(name)
        if con.execute(TRY_LOCK, [key]).fetchone()[0]:
            con.execute(UNLOCK, [key])
            return False
        return True
    finally:
        con.close()


class creating_catalog:
    """Held around a writer's ATTACH: the first attach creates the catalog's tables, and two
    hosts creating them at once collide in PostgreSQL (duplicate pg_type entries). Waits at
    most 30 s; when PostgreSQL cannot be asked, the attach goes ahead unguarded."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.con = None

    def __enter__(self):
        try:
            self.con = _connect(self.conninfo)
            self.con.execute("SET lock_timeout = '30s'")
            self.con.execute("SELECT pg_advisory_lock(%s)", [lock_key("catalog-init")])
        except Exception:
            self.__exit__()
        return self

    def __exit__(self, *exc) -> None:
        con, self.con = self.con, None
        if con is not None:
            con.close()
