"""Slash commands: names, usage and help as one table, read by the parser and the help screen."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.chat import SAMPLING_SETTINGS
from assistant.errors import CoveError


@dataclass(frozen=True)
class SlashCommand:
    name: str
    usage: str
    help: str
    #: Whether the command needs an argument.
    needs_argument: bool = False


SLASH_COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("add", "/add FILE[:START-END]", "attach a file or a line range as context (token-counted)", True),
    SlashCommand("drop", "/drop [FILE]", "detach one attached file, or all of them"),
    SlashCommand("model", "/model PATH", "switch to another GGUF model without restarting", True),
    SlashCommand("system", "/system [TEXT]", "set this conversation's system prompt (empty clears it)"),
    SlashCommand("set", "/set NAME VALUE", f"change how this mode samples ({', '.join(SAMPLING_SETTINGS)}), "
                 "e.g. /set temperature 0.7; the status bar shows the settings", True),
    SlashCommand("copy", "/copy [N]", "copy code block N of the last reply (default 1) to the clipboard"),
    SlashCommand("export", "/export FILE.md|FILE.json", "write this conversation to a Markdown or JSON file", True),
    SlashCommand("clear", "/clear", "start a new conversation (the old one stays in the sidebar)"),
    SlashCommand("help", "/help", "show keys and commands"),
)
_BY_NAME = {command.name: command for command in SLASH_COMMANDS}


def parse_slash(text: str) -> tuple[SlashCommand, str]:
    """The command and its argument from a `/name argument` line."""
    name, _, argument = text.strip().removeprefix("/").partition(" ")
    command = _BY_NAME.get(name.lower())
    if command is None:
        raise CoveError(f"unknown command /{name}: try {', '.join('/' + c.name for c in SLASH_COMMANDS)}")
    argument = argument.strip()
    if command.needs_argument and not argument:
        raise CoveError(f"/{command.name} needs an argument: {command.usage}")
    return command, argument
