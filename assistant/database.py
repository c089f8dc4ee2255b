"""The SQLite files Cove keeps (chat history, completion acceptance), opened and upgraded one way.

Each file is opened in autocommit mode with WAL journalling (a reader never waits for a
writer, so `cove stats` or a second `cove chat` can read while another process writes)
and versioned with `PRAGMA user_version`: `migrations[i]` takes a file from version i
to i + 1, one transaction per step, so an old file is brought forward in place and a
failed upgrade leaves it at the last good version.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

#: A schema upgrade: the SQL script that takes a file one version up (the connection is
#: there to probe features).
Migration = Callable[[sqlite3.Connection], str]


class NewerSchema(sqlite3.DatabaseError):
    """The file was written by a newer Cove: its schema version is beyond the migrations known here."""

    def __init__(self, version: int, known: int) -> None:
        super().__init__(f"schema version {version}, newer than this cove understands ({known})")


def connect(path: Path, migrations: tuple[Migration, ...]) -> sqlite3.Connection:
    """`path` opened (created with its folder if missing), in WAL mode and migrated to the
    current schema; sqlite3.DatabaseError (NewerSchema included) when it cannot be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit: each statement is durable on its own; multi-statement changes use
    # explicit transactions.
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        migrate(db, migrations)
    except BaseException:
        db.close()
        raise
    return db


def schema_version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite3.Connection, migrations: tuple[Migration, ...]) -> None:
    version = schema_version(db)
    if version > len(migrations):
        raise NewerSchema(version, len(migrations))
    for target, migration in enumerate(migrations[version:], start=version + 1):
        try:
            db.executescript(f"BEGIN IMMEDIATE;\n{migration(db)}\nPRAGMA user_version = {target};\nCOMMIT;")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
