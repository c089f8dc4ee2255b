"""`cove chat`: the terminal assistant on the configured model (the bundled one by default)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.commands.common import add_engine_arguments, engine_config_from_args

if TYPE_CHECKING:
    from assistant.chat import ChatConfig


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
    chat, completion = defaults.chat_sampling, defaults.completion_sampling
    sampling = parser.add_argument_group(
        "sampling", f"for replies in either mode (defaults: chat {chat.label()}; completion {completion.label()}; "
                    "infill at a cursor marker is always greedy); /set changes them in the app")
    sampling.add_argument("--temperature", type=float, metavar="T", help="0 is greedy; higher is more varied")
    sampling.add_argument("--top-p", type=float, metavar="P", help="sample among the likeliest tokens holding this probability")
    sampling.add_argument("--repeat-penalty", type=float, metavar="R",
                          help="above 1 makes recently used tokens less likely (1 turns it off)")
    add_engine_arguments(parser)


def chat_config_from_args(args: argparse.Namespace) -> "ChatConfig":
    """The chat settings the flags ask for; sampling flags apply in both modes."""
    from assistant.chat import SAMPLING_SETTINGS, ChatConfig

    flags = {name: getattr(args, name.replace("-", "_")) for name in SAMPLING_SETTINGS}
    return ChatConfig(max_tokens=args.max_tokens, mode=args.mode).with_sampling(
        {name: value for name, value in flags.items() if value is not None})


def first_run_notice(model: Path, threads: int | None) -> str | None:
    """On the bundled model, the line that says what it is and which command gets a better
    one here (from the remembered machine speed: `make run` runs `cove doctor` first)."""
    from assistant import advice, locations, machine_speed

    if model.resolve() != locations.BUNDLED_MODEL.resolve():
        return None
    return advice.first_run_line(machine_speed.remembered(threads))


def run(args: argparse.Namespace) -> int:
    from assistant import locations
    from assistant.engine import Engine
    from assistant.store import Store
    from assistant.tui.app import CoveApp

    chat_config = chat_config_from_args(args)
    engine_config, sources = engine_config_from_args(args)
    store = Store(args.db or locations.data_dir() / "history.sqlite3")
    if args.conversation is not None:
        store.conversation(args.conversation)  # a one-line error before the screen opens
    # Loaded before the app starts, so a bad model is a one-line error and exit code 2.
    engine = Engine.load(engine_config, sources)
    app = CoveApp(
        store, engine, config=chat_config, conversation_id=args.conversation,
        load_engine=lambda path: Engine.load(dataclasses.replace(engine_config, model=path)),
        notice=first_run_notice(engine.model_path, engine_config.n_threads),
    )
    try:
        app.run()
    finally:
        store.close()
    return app.return_code or 0
