"""Chat history in SQLite: durability, migrations, search and export."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from assistant.errors import CoveError
from assistant.store import MIGRATIONS, Store, export_conversation


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "history.sqlite3")
    yield store
    store.close()


def test_a_message_is_on_disk_as_soon_as_it_is_added(store, tmp_path):
    conversation = store.create_conversation("first")
    store.add_message(conversation.id, "user", "hello")
    other = sqlite3.connect(tmp_path / "history.sqlite3")
    assert other.execute("SELECT role, content FROM messages").fetchall() == [("user", "hello")]


def test_history_uses_write_ahead_logging(store):
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_file_is_at_the_latest_schema_version(store):
    assert store.schema_version == len(MIGRATIONS)


def test_an_old_file_is_migrated_and_its_messages_become_searchable(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = Store(path, migrations=MIGRATIONS[:1])
    conversation = old.create_conversation("legacy")
    old.add_message(conversation.id, "user", "the albatross flies")
    old.close()
    upgraded = Store(path)
    assert upgraded.schema_version == len(MIGRATIONS)
    assert [hit.conversation_id for hit in upgraded.search("albatross")] == [conversation.id]


def test_a_file_from_a_newer_cove_is_refused_with_a_fix(tmp_path):
    path = tmp_path / "future.sqlite3"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(CoveError, match="newer than this cove understands.*--db"):
        Store(path)


def test_a_file_that_is_not_sqlite_is_refused_with_a_fix(tmp_path):
    path = tmp_path / "junk.sqlite3"
    path.write_text("not a database at all, just text " * 100)
    with pytest.raises(CoveError, match="cannot be opened.*--db"):
        Store(path)


def test_messages_come_back_in_order_with_their_stats(store):
    conversation = store.create_conversation("c")
    store.add_message(conversation.id, "user", "q")
    store.add_message(conversation.id, "assistant", "a", mode="completion", stats={"generated_tokens": 3})
    assert [(m.role, m.content, m.mode, m.stats) for m in store.messages(conversation.id)] == [
        ("user", "q", "chat", None), ("assistant", "a", "completion", {"generated_tokens": 3}),
    ]


def test_the_most_recently_active_conversation_comes_first(store):
    older = store.create_conversation("older")
    newer = store.create_conversation("newer")
    store.add_message(older.id, "user", "bump")
    assert [c.title for c in store.conversations()] == ["older", "newer"]
    assert newer.id != older.id


def test_truncate_removes_a_message_and_everything_after_it(store):
    conversation = store.create_conversation("c")
    ids = [store.add_message(conversation.id, role, text).id
           for role, text in [("user", "1"), ("assistant", "2"), ("user", "3"), ("assistant", "4")]]
    store.truncate(conversation.id, ids[2])
    assert [m.content for m in store.messages(conversation.id)] == ["1", "2"]


def test_deleting_a_conversation_deletes_its_messages_and_their_index(store):
    conversation = store.create_conversation("c")
    store.add_message(conversation.id, "user", "ephemeral words")
    store.delete_conversation(conversation.id)
    assert store._db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert store.search("ephemeral") == []


def test_a_missing_conversation_is_a_clear_error(store):
    with pytest.raises(CoveError, match="no conversation 42"):
        store.conversation(42)


def test_system_prompt_and_title_are_kept(store):
    conversation = store.create_conversation("c")
    store.set_system(conversation.id, "be terse")
    store.rename(conversation.id, "renamed")
    assert (store.conversation(conversation.id).title, store.conversation(conversation.id).system) == ("renamed", "be terse")


@pytest.fixture(params=["fts5", "like"])
def searchable(request, tmp_path) -> Store:
    """A store searched through FTS5, and one without the index (LIKE fallback)."""
    migrations = MIGRATIONS if request.param == "fts5" else MIGRATIONS[:1]
    store = Store(tmp_path / "s.sqlite3", migrations=migrations)
    assert store.full_text == (request.param == "fts5")
    first = store.create_conversation("birds")
    store.add_message(first.id, "user", "Tell me about the pelican and its pouch")
    second = store.create_conversation("code")
    store.add_message(second.id, "user", "def pelican_count(): return 100% of them")
    yield store
    store.close()


def test_search_matches_every_word_in_any_conversation(searchable):
    assert [hit.title for hit in searchable.search("pelican pouch")] == ["birds"]


def test_search_is_case_insensitive(searchable):
    assert [hit.title for hit in searchable.search("POUCH")] == ["birds"]


def test_search_treats_query_syntax_as_plain_text(searchable):
    assert searchable.search('"pouch" OR*') == []
    assert [hit.title for hit in searchable.search("100%")] == ["code"]


def test_search_snippet_shows_the_match(searchable):
    assert "pouch" in searchable.search("pouch")[0].snippet


def test_export_to_markdown_is_a_readable_transcript(store, tmp_path):
    conversation = store.create_conversation("Adding")
    store.set_system(conversation.id, "be terse")
    store.add_message(conversation.id, "user", "def add(a, b):\n", mode="completion")
    store.add_message(conversation.id, "assistant", "    return a + b", mode="completion")
    path = export_conversation(store, conversation.id, tmp_path / "out.md")
    assert path.read_text() == (
        "# Adding\n\n**System:** be terse\n\n## You\n\n```\ndef add(a, b):\n\n```\n\n"
        "## Cove\n\n```\n    return a + b\n```\n"
    )


def test_export_to_json_keeps_everything(store, tmp_path):
    conversation = store.create_conversation("c")
    store.add_message(conversation.id, "assistant", "hi", stats={"generated_tokens": 1})
    document = json.loads(export_conversation(store, conversation.id, tmp_path / "out.json").read_text())
    assert document["title"] == "c"
    assert document["messages"][0]["stats"] == {"generated_tokens": 1}


def test_export_to_an_unknown_format_names_the_known_ones(store, tmp_path):
    conversation = store.create_conversation("c")
    with pytest.raises(CoveError, match=r"\.md or \.json"):
        export_conversation(store, conversation.id, tmp_path / "out.pdf")


def test_export_leaves_no_temporary_files_and_replaces_the_old_file(store, tmp_path):
    conversation = store.create_conversation("c")
    (tmp_path / "out.md").write_text("old")
    export_conversation(store, conversation.id, tmp_path / "out.md")
    assert (tmp_path / "out.md").read_text().startswith("# c")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_into_a_missing_folder_is_a_clear_error(store, tmp_path):
    conversation = store.create_conversation("c")
    with pytest.raises(CoveError, match="does not exist"):
        export_conversation(store, conversation.id, tmp_path / "nowhere" / "out.md")


def test_an_exported_file_gets_ordinary_permissions(store, tmp_path):
    conversation = store.create_conversation("c")
    path = export_conversation(store, conversation.id, tmp_path / "out.md")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
