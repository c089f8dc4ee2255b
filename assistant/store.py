"""Chat history in SQLite: conversations, their messages, search, and export.

One file, durable commits: every message is committed the moment it is shown as sent,
so a killed terminal loses nothing the user saw go out. WAL journalling lets a second
`cove chat` read while the first writes. The schema is versioned with
`PRAGMA user_version`; `MIGRATIONS[i]` upgrades version i to i + 1, so an old history
file is brought forward in place when it is opened. Search uses an FTS5 index when this
SQLite has FTS5 and falls back to LIKE otherwise.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from assistant.atomic import write_atomic
from assistant.database import Migration, NewerSchema, connect, schema_version
from assistant.chat import Role, display_markdown
from assistant.errors import CoveError


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    #: System prompt for chat-template models; empty when none was set.
    system: str
    created: float
    updated: float


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    role: Role
    content: str
    #: "chat" (a template turn) or "completion" (code in, continuation or middle out).
    mode: str
    created: float
    #: Generation figures of an assistant reply (tokens, timings, stop reason).
    stats: dict | None = None


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    title: str
    message_id: int
    #: The matching text with a little context either side, on one line.
    snippet: str


def _v1_tables(db: sqlite3.Connection) -> str:
    return """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            system TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            mode TEXT NOT NULL DEFAULT 'chat',
            created REAL NOT NULL,
            stats TEXT
        );
        CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
        """


def _v2_search_index(db: sqlite3.Connection) -> str:
    """Full-text index kept in step with `messages` by triggers (external-content FTS5);
    nothing where this SQLite lacks FTS5 (search then uses LIKE)."""
    if not _has_fts5(db):
        return ""
    return """
        CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id');
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        END;
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END;
        INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
        """


#: Schema upgrades in order: MIGRATIONS[v] takes a file from version v to v + 1.
MIGRATIONS: tuple[Migration, ...] = (_v1_tables, _v2_search_index)


def _has_fts5(db: sqlite3.Connection) -> bool:
    try:
        db.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    db.execute("DROP TABLE temp.fts5_probe")
    return True


class Store:
    """The history file, opened and migrated to the current schema."""

    def __init__(self, path: Path, *, migrations: tuple[Migration, ...] = MIGRATIONS):
        self.path = path
        try:
            self._db = connect(path, migrations)
        except NewerSchema as error:
            raise CoveError(f"chat history {path} has {error}: upgrade cove or pass --db NEW_FILE") from None
        except sqlite3.DatabaseError as error:
            raise CoveError(f"chat history {path} cannot be opened ({error}): move it aside or pass --db NEW_FILE") from None
        self.full_text = self._table_exists("messages_fts")

    @property
    def schema_version(self) -> int:
        return schema_version(self._db)

    def _table_exists(self, name: str) -> bool:
        row = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        return row is not None

    def close(self) -> None:
        self._db.close()

    # Conversations

    def create_conversation(self, title: str, system: str = "") -> Conversation:
        now = time.time()
        cursor = self._db.execute(
            "INSERT INTO conversations (title, system, created, updated) VALUES (?, ?, ?, ?)",
            (title, system, now, now),
        )
        return self.conversation(cursor.lastrowid)

    def conversation(self, conversation_id: int) -> Conversation:
        row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise CoveError(
                f"there is no conversation {conversation_id} in {self.path}: open one from the sidebar (or leave out --conversation)"
            )
        return Conversation(**dict(row))

    def conversations(self) -> list[Conversation]:
        """All conversations, the most recently active first."""
        rows = self._db.execute("SELECT * FROM conversations ORDER BY updated DESC, id DESC")
        return [Conversation(**dict(row)) for row in rows]

    def rename(self, conversation_id: int, title: str) -> None:
        self._db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def set_system(self, conversation_id: int, system: str) -> None:
        self._db.execute("UPDATE conversations SET system = ? WHERE id = ?", (system, conversation_id))

    def delete_conversation(self, conversation_id: int) -> None:
        self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # Messages

    def add_message(
        self, conversation_id: int, role: Role, content: str, *, mode: str = "chat", stats: dict | None = None
    ) -> StoredMessage:
        """Append and commit a message; it is on disk when this returns."""
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self._db.execute(
                "INSERT INTO messages (conversation_id, role, content, mode, created, stats) VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, mode, now, json.dumps(stats) if stats is not None else None),
            )
            self._db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return StoredMessage(cursor.lastrowid, conversation_id, role, content, mode, now, stats)

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        rows = self._db.execute("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,))
        return [_message(row) for row in rows]

    def truncate(self, conversation_id: int, from_message_id: int) -> None:
        """Delete a message and everything after it: the step behind regenerate and edit."""
        self._db.execute(
            "DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (conversation_id, from_message_id)
        )

    # Search

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages containing every word of `query`, newest first."""
        words = query.split()
        if not words:
            return []
        if self.full_text:
            # Each word quoted: user text is matched literally, never parsed as FTS syntax.
            match = " ".join('"' + word.replace('"', '""') + '"' for word in words)
            rows = self._db.execute(
                "SELECT m.id, m.content, c.id AS cid, c.title FROM messages_fts f "
                "JOIN messages m ON m.id = f.rowid JOIN conversations c ON c.id = m.conversation_id "
                "WHERE messages_fts MATCH ? ORDER BY m.id DESC LIMIT ?",
                (match, limit),
            )
        else:
            where = " AND ".join("m.content LIKE ? ESCAPE '\\'" for _ in words)
            patterns = ["%" + _escape_like(word) + "%" for word in words]
            rows = self._db.execute(
                "SELECT m.id, m.content, c.id AS cid, c.title FROM messages m "
                f"JOIN conversations c ON c.id = m.conversation_id WHERE {where} ORDER BY m.id DESC LIMIT ?",
                (*patterns, limit),
            )
        return [SearchHit(row["cid"], row["title"], row["id"], snippet(row["content"], words)) for row in rows]


def _message(row: sqlite3.Row) -> StoredMessage:
    values = dict(row)
    values["stats"] = json.loads(values["stats"]) if values["stats"] else None
    return StoredMessage(**values)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def snippet(text: str, words: list[str], width: int = 60) -> str:
    """One line of `text` around the first of `words` it contains (case-insensitive)."""
    lowered = text.lower()
    positions = [p for p in (lowered.find(w.lower()) for w in words) if p >= 0]
    start = max(0, min(positions, default=0) - width // 3)
    piece = " ".join(text[start:start + width].split())
    return ("…" if start else "") + piece + ("…" if start + width < len(text) else "")


# Export


def to_markdown(conversation: Conversation, messages: list[StoredMessage]) -> str:
    """A readable transcript: the title, the system prompt, then each turn under a heading."""
    parts = [f"# {conversation.title}\n"]
    if conversation.system:
        parts.append(f"**System:** {conversation.system}\n")
    for message in messages:
        heading = "You" if message.role == "user" else "Cove"
        parts.append(f"## {heading}\n\n{display_markdown(message.content, message.mode)}\n")
    return "\n".join(parts)


def to_json(conversation: Conversation, messages: list[StoredMessage]) -> str:
    """Everything stored, for other tools: the conversation and its messages with stats."""
    document = {**asdict(conversation), "messages": [asdict(m) for m in messages]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


#: File suffix -> exporter.
EXPORTERS: dict[str, Callable[[Conversation, list[StoredMessage]], str]] = {
    ".md": to_markdown,
    ".json": to_json,
}


def export_conversation(store: Store, conversation_id: int, path: Path) -> Path:
    """Write a conversation to `path` (format from its suffix), atomically."""
    path = path.expanduser()
    exporter = EXPORTERS.get(path.suffix.lower())
    if exporter is None:
        raise CoveError(f"cannot export to {path.name}: use a file name ending in {' or '.join(EXPORTERS)}")
    text = exporter(store.conversation(conversation_id), store.messages(conversation_id))
    write_atomic(path, text)
    return path
