"""Acceptance tracking end to end: `cove lsp` over stdio with the tiny model; the client
runs an item's command as an editor does on accept, and `cove.status` counts it."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.test_lsp_server import SERVER, WORDS, edit, first_completion, inline, open_document, status, word_ends

pytestmark = pytest.mark.slow


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tiny_gguf: Path, tmp_path: Path):
    """VS Code's capabilities, the tiny model, and an acceptance file of the test's own."""
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"),
        # minConfidence 0: the random model is unsure of everything it writes.
        initialization_options={"model": str(tiny_gguf), "minConfidence": 0,
                                "acceptanceFile": str(tmp_path / "acceptance.sqlite3")},
    ))
    yield
    await lsp_client.shutdown_session()


async def test_an_accepted_completion_is_counted_in_status(client: LanguageClient):
    uri = open_document(client, WORDS)
    _, items = await first_completion(client, uri, word_ends(WORDS))
    command = items[0].command
    assert command.command == "cove.accepted"
    await client.workspace_execute_command_async(types.ExecuteCommandParams(command.command, command.arguments))
    total = (await status(client))["acceptance"]["total"]
    assert total["shown"] == 1 and total["accepted"] == 1 and total["acceptedChars"] == len(items[0].insert_text)
    assert total["acceptanceRate"] == 1 and total["latencyP50Ms"] > 0


async def test_inserting_the_start_of_a_completion_counts_as_a_partial_accept(client: LanguageClient):
    uri = open_document(client, WORDS)
    for position in word_ends(WORDS):
        items = await inline(client, uri, position.line, position.character)
        if items and len(items[0].insert_text) > 2:
            break
    else:
        pytest.skip("the tiny model wrote nothing longer than two characters")
    edit(client, uri, 2, position, items[0].insert_text[:2])  # VS Code's accept-word inserts a prefix
    total = (await status(client))["acceptance"]["total"]
    assert total["partiallyAccepted"] == 1 and total["acceptedChars"] == 2
