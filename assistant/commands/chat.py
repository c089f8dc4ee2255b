"""`cove chat`: the terminal assistant on the configured model (the bundled one by default)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from assistant.commands.common import add_engine_arguments, engine_config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    from assistant.chat import ChatConfig, MODE_LABELS

    defaults = ChatConfig()
    parser.description = (
        "Chat with the model in the terminal. Models with a chat template get chat turns; base code "
        "models get completion mode, where a message is code and the reply continues it (or fills "
        "the gap at a cursor marker). History is kept in SQLite; press F1 in the app for keys."
    )
    parser.add_argument("--db", type=Path, metavar="FILE",
                        help="chat history file (default: history.sqlite3 in the data folder)")
    parser.add_argument("--conversation", type=int, metavar="ID", help="resume the conversation with this id")
    parser.add_argument("--mode", choices=("auto", *MODE_LABELS), default=defaults.mode,
                        help="auto picks chat when the model has a chat template, else completion")
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens,
                        help=f"longest reply in tokens (default {defaults.max_tokens})")
    parser.add_argument("--temperature", type=float, default=defaults.temperature,
                        help=f"sampling temperature of chat replies (default {defaults.temperature}: greedy)")
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from assistant import locations
    from assistant.chat import ChatConfig
    from assistant.engine import Engine
    from assistant.store import Store
    from assistant.tui.app import CoveApp

    chat_config = ChatConfig(max_tokens=args.max_tokens, temperature=args.temperature, mode=args.mode)
    engine_config, sources = engine_config_from_args(args)
    store = Store(args.db or locations.data_dir() / "history.sqlite3")
    if args.conversation is not None:
        store.conversation(args.conversation)  # a one-line error before the screen opens
    # Loaded before the app starts, so a bad model is a one-line error and exit code 2.
    engine = Engine.load(engine_config, sources)
    app = CoveApp(
        store, engine, config=chat_config, conversation_id=args.conversation,
        load_engine=lambda path: Engine.load(dataclasses.replace(engine_config, model=path)),
    )
    try:
        app.run()
    finally:
        store.close()
    return app.return_code or 0
