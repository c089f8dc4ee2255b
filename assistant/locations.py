"""Where Cove keeps things: XDG config, data and cache folders, and the bundled model."""

from __future__ import annotations

import os
from pathlib import Path

APP = "cove"

#: The default model trained by this project and shipped inside the package.
BUNDLED_MODEL = Path(__file__).resolve().parent / "models" / "cove-default.gguf"


def _xdg(variable: str, fallback: str) -> Path:
    base = os.environ.get(variable) or str(Path.home() / fallback)
    return Path(base) / APP


def config_dir() -> Path:
    """User settings (`config.toml`)."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    """Chat history and other state worth keeping."""
    return _xdg("XDG_DATA_HOME", ".local/share")


def cache_dir() -> Path:
    """Anything that can be rebuilt."""
    return _xdg("XDG_CACHE_HOME", ".cache")


def config_file() -> Path:
    return Path(os.environ.get("COVE_CONFIG") or config_dir() / "config.toml")
