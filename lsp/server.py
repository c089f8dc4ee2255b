"""The language server: LSP in, completions out (pygls 2.x).

Handlers stay thin: they turn LSP params into a `Cursor`, await the `Completer` (which
runs the model on its own thread) and turn the text into `InlineCompletionItem`s or
`CompletionItem`s with ranges in the client's position encoding (pygls negotiates it:
UTF-16 unless the client offers UTF-8 or UTF-32 first). CRLF files are read as LF and
completions written back with CRLF.
"""

from __future__ import annotations

import asyncio
import re
import threading
from urllib.parse import unquote
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from lsprotocol import types
from pygls import uris
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import TextDocument

from assistant import __version__
from assistant.errors import CoveError
from assistant.stopwatch import Stopwatch

from lsp import commands
from lsp.accept_tracker import AcceptanceTracker
from lsp.completer import Completer, Cursor
from lsp.context import Source, normalize_newlines
from lsp.settings import SECTION, Settings

#: Other documents offered as extra context: the most recently opened or edited ones.
RECENT_DOCUMENTS = 8
#: Documents bigger than this are left out of the extra context.
MAX_SOURCE_CHARS = 200_000
_WORD = re.compile(r"\w*$")


class CoveProtocol(LanguageServerProtocol):
    """pygls' protocol, plus an answer for requests whose params do not parse: pygls
    reports those but never responds, and the client would wait forever."""

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data.get("id"), (int, str)) and "method" in data:
                self._send_response(data["id"], error=error.to_response_error())
            raise


@dataclass(frozen=True)
class Placement:
    """A completion and where it goes, in the client's units."""

    text: str
    position: types.Position
    #: The identifier before the cursor, which `completion` items replace (clients filter on it).
    word: str
    word_start: types.Position


class CoveServer(LanguageServer):
    """Holds the settings, the completer and the recently used documents."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("cove", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=CoveProtocol)
        self.completer = Completer(settings, self.log, self.show_backend_failure)
        self.recent: OrderedDict[str, TextDocument] = OrderedDict()
        self.acceptance = AcceptanceTracker(self.log)
        self.loop: asyncio.AbstractEventLoop | None = None

    # ---- messages to the user --------------------------------------------------------

    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """`window/logMessage`, from any thread."""
        self._on_loop(self.window_log_message, types.LogMessageParams(type=kind, message=message))

    def show_error(self, message: str) -> None:
        self.show(message, types.MessageType.Error)

    def show_backend_failure(self, message: str) -> None:
        """The first failed completion of an episode (lsp/health.py): otherwise an editor
        just shows nothing, keystroke after keystroke."""
        self.show(f"completions are failing: {message} (shown once; {commands.STATUS} has the last error)",
                  types.MessageType.Warning)

    def show(self, message: str, kind: types.MessageType) -> None:
        """`window/showMessage`, from any thread."""
        self._on_loop(self.window_show_message, types.ShowMessageParams(type=kind, message=f"cove: {message}"))

    def _on_loop(self, send: Callable[[Any], None], params: Any) -> None:
        """`send(params)` on the event loop: the completer's worker thread must not write to the client."""
        if self.loop is not None and threading.current_thread() is not threading.main_thread():
            self.loop.call_soon_threadsafe(send, params)
        else:
            send(params)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Protocol errors (malformed messages, unknown methods) go to the log, not to pop-ups."""
        self.log(f"cove: {type(error).__name__}: {error}", types.MessageType.Error)

    # ---- settings and the backend ----------------------------------------------------

    def apply_settings(self, options: Any) -> bool:
        """Apply settings from the client; True when the backend must be loaded again.
        Refused settings are shown as an error and the previous ones kept."""
        try:
            settings = self.completer.settings.updated(options)
        except CoveError as error:
            self.show_error(f"{error}; keeping the previous settings")
            return False
        return self.completer.apply(settings)

    async def load_backend(self) -> str | None:
        """(Re)load the backend; a failure is shown once and the server keeps running."""
        error = await self.completer.load()
        if error is not None:
            self.show_error(f"{error} (completions are off until this is fixed; then run {commands.RELOAD_MODEL})")
        return error

    # ---- completions -----------------------------------------------------------------

    def cursor_at(self, uri: str, position: types.Position) -> tuple[TextDocument, Cursor, list[Source]] | None:
        """The document, a `Cursor` at `position` and the other documents offered as context;
        None for a document that is not open or that nobody types (too big, binary)."""
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            return None
        source = document.source
        if len(source) > self.completer.settings.max_file_bytes or "\x00" in source:
            return None  # generated, data or binary: nobody types these
        offset = document.offset_at_position(types.Position(position.line, position.character))
        text, normalized = normalize_newlines(source, offset)
        cursor = Cursor(document.uri, document.path, text, normalized, document.version)
        others = [Source(d.path, d.source) for u, d in reversed(self.recent.items())
                  if u != cursor.uri and len(d.source) <= MAX_SOURCE_CHARS][:RECENT_DOCUMENTS]
        return document, cursor, others

    async def place(self, uri: str, position: types.Position, watch: Stopwatch) -> Placement | None:
        """The completion at `position` of an open document, or None for nothing to show;
        `watch` times its stages (the completer's record holds them)."""
        found = self.cursor_at(uri, position)
        if found is None:
            return None
        document, cursor, others = found
        watch.lap("document")
        completion = await self.completer.complete(cursor, lambda: document.version, others, watch)
        if not completion or document.version != cursor.version:
            return None  # nothing to add, or the document changed while it was written
        if "\r\n" in document.source:
            completion = completion.replace("\n", "\r\n")
        offset = document.offset_at_position(types.Position(position.line, position.character))
        text, normalized = cursor.text, cursor.offset
        word = _WORD.search(text, text.rfind("\n", 0, normalized) + 1, normalized).group()
        return Placement(completion, client_position(document, offset), word,
                         client_position(document, offset - len(word)))

    def remember(self, uri: str) -> None:
        """Mark a document as recently used (it stays available as context after closing)."""
        document = self.workspace.text_documents.get(unquote(uri))
        if document is not None:
            self.recent[uri] = document
            self.recent.move_to_end(uri)
            while len(self.recent) > RECENT_DOCUMENTS + 1:
                self.recent.popitem(last=False)


def client_position(document: TextDocument, offset: int) -> types.Position:
    """The position of `offset` in the client's units. (pygls' `client_position_at_offset`
    fails on an empty document and puts the end of a last line without a newline on the
    line after it.)"""
    lines = document.lines
    for number, line in enumerate(lines):
        if offset < len(line) or (number == len(lines) - 1 and not line.endswith(("\n", "\r"))):
            return document.position_codec.position_to_client_units(lines, types.Position(number, offset))
        offset -= len(line)
    return types.Position(len(lines), 0)


# ---- handlers ------------------------------------------------------------------------


def on_initialize(ls: CoveServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options)
    root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
    if root and root.startswith("file:") and not ls.completer.settings.workspace:  # picks a fine-tuned model
        ls.apply_settings({"workspace": uris.to_fs_path(root)})
    trigger = list(ls.completer.settings.trigger_characters)
    ls.protocol.fm.feature_options[types.TEXT_DOCUMENT_COMPLETION] = types.CompletionOptions(trigger_characters=trigger)


async def on_initialized(ls: CoveServer, params: types.InitializedParams) -> None:
    ls.loop = asyncio.get_running_loop()
    if _client_pulls_configuration(ls):
        await _pull_configuration(ls)
    await ls.load_backend()


async def on_did_change_configuration(ls: CoveServer, params: types.DidChangeConfigurationParams) -> None:
    if isinstance(params.settings, dict) and params.settings:
        changed = ls.apply_settings(params.settings)
    else:
        changed = _client_pulls_configuration(ls) and await _pull_configuration(ls)
    if changed:
        await ls.load_backend()


def on_did_open(ls: CoveServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.remember(params.text_document.uri)


def on_did_change(ls: CoveServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.remember(params.text_document.uri)
    ls.acceptance.changed(params.text_document.uri, params.content_changes, ls.workspace.position_codec.client_num_units)


async def on_document_highlight(ls: CoveServer, params: types.DocumentHighlightParams) -> list:
    """Editors ask for highlights where the cursor comes to rest (after opening a file too):
    the cue to warm the prompt there (Completer.warm). Answers no highlights, once the
    warm-up has ended (finished, or stopped by a real request)."""
    found = ls.cursor_at(params.text_document.uri, params.position)
    if found is not None:
        _, cursor, others = found
        await asyncio.shield(ls.completer.warm(cursor, others))
    return []


async def on_inline_completion(ls: CoveServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    watch = Stopwatch()
    placed = await ls.place(params.text_document.uri, params.position, watch)
    if placed is None:
        return types.InlineCompletionList(items=[])
    where = types.Range(placed.position, placed.position)
    accepted = ls.acceptance.shown(params.text_document.uri, placed.position, placed.text, ls.completer)
    answer = types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=placed.text, range=where,
                                                                          command=accepted)])
    watch.lap("reply")
    return answer


async def on_completion(ls: CoveServer, params: types.CompletionParams) -> types.CompletionList:
    watch = Stopwatch()
    placed = await ls.place(params.text_document.uri, params.position, watch)
    if placed is None:
        return types.CompletionList(is_incomplete=True, items=[])
    new_text = placed.word + placed.text
    label = new_text.splitlines()[0] if new_text.strip() else new_text
    item = types.CompletionItem(
        label=label[:80], kind=types.CompletionItemKind.Text, detail="cove", filter_text=new_text,
        insert_text_format=types.InsertTextFormat.PlainText, preselect=True, sort_text="0",
        text_edit=types.TextEdit(types.Range(placed.word_start, placed.position), new_text),
    )
    watch.lap("reply")
    return types.CompletionList(is_incomplete=True, items=[item])


def on_shutdown(ls: CoveServer, params: None) -> None:
    ls.completer.close()
    ls.acceptance.close()


async def on_reload_model(ls: CoveServer) -> dict:
    error = await ls.load_backend()
    return commands.reload_answer(error, on_status(ls))


def on_status(ls: CoveServer) -> dict:
    acceptance = ls.acceptance.summary(ls.completer.settings)
    return commands.status(ls.completer, ls.workspace.text_documents, acceptance)


def on_accepted(ls: CoveServer, completion_id: str) -> None:
    ls.acceptance.accepted(completion_id)


async def _pull_configuration(ls: CoveServer) -> bool:
    """Ask the client for the `cove` section; True when the backend must be loaded again."""
    try:
        answer = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)]))
    except Exception as error:  # a client that advertises the request but fails it: keep what we have
        ls.log(f"cove: workspace/configuration failed: {error}", types.MessageType.Warning)
        return False
    return bool(answer) and isinstance(answer[0], dict) and ls.apply_settings(answer[0])


def _client_pulls_configuration(ls: CoveServer) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.configuration)


def create_server(settings: Settings | None = None) -> CoveServer:
    """A server with every handler registered."""
    server = CoveServer(settings or Settings())
    features = [
        (types.INITIALIZE, on_initialize, None),
        (types.INITIALIZED, on_initialized, None),
        (types.WORKSPACE_DID_CHANGE_CONFIGURATION, on_did_change_configuration, None),
        (types.TEXT_DOCUMENT_DID_OPEN, on_did_open, None),
        (types.TEXT_DOCUMENT_DID_CHANGE, on_did_change, None),
        (types.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT, on_document_highlight, None),
        (types.TEXT_DOCUMENT_INLINE_COMPLETION, on_inline_completion, types.InlineCompletionOptions()),
        (types.TEXT_DOCUMENT_COMPLETION, on_completion,
         types.CompletionOptions(trigger_characters=list(server.completer.settings.trigger_characters))),
        (types.SHUTDOWN, on_shutdown, None),
    ]
    for method, handler, options in features:
        server.feature(method, options)(handler)
    server.command(commands.RELOAD_MODEL)(on_reload_model)
    server.command(commands.STATUS)(on_status)
    server.command(commands.ACCEPTED)(on_accepted)
    return server
