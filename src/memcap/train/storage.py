"""Where sweeps live and how workers take turns: an Optuna RDB storage (an SQLite file by default, any
SQLAlchemy URL such as PostgreSQL for many machines) with heartbeats, and one lock per experiment under
which a worker claims its next trial (a file lock for SQLite, which ignores SELECT ... FOR UPDATE; an
advisory lock for PostgreSQL, released by the server if the worker dies)."""

from __future__ import annotations

import contextlib
import fcntl
import zlib
from collections.abc import Iterator
from pathlib import Path

from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

__all__ = ["open_storage", "sweep_lock"]


def open_storage(url: str, heartbeat: int = 10, grace: int | None = None) -> RDBStorage:
    """Any SQLAlchemy URL; a bare path means an SQLite file."""
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(url).resolve()}"
    return RDBStorage(url, heartbeat_interval=heartbeat, grace_period=grace or 3 * heartbeat,
                      heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=None))


@contextlib.contextmanager
def sweep_lock(storage: RDBStorage, name: str) -> Iterator[None]:
    url = str(storage.engine.url)
    if url.startswith("sqlite"):
        # SQLite ignores SELECT ... FOR UPDATE, so Optuna's own guard against two workers taking one waiting
        # trial does not hold there: serialise on a file lock beside the database
        database = storage.engine.url.database
        assert database is not None, "an SQLite storage is a file (open_storage makes the URL from a path)"
        path = Path(database + ".lock")
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    elif url.startswith("postgresql"):
        key = zlib.crc32(name.encode())
        with storage.engine.connect() as conn:  # released by the server if this worker dies
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
    else:
        raise ValueError(f"shared sweeps need SQLite or PostgreSQL storage; got {storage.engine.url.drivername}")
