"""Atomic file output: a temporary file beside the destination, renamed onto it at the end.

Every writer in the project (GGUF files, shards, manifests, exports, the bundled model)
goes through here, so an interrupted or failed write never leaves half a file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from assistant.errors import CoveError


def check_output_folder(destination: Path) -> None:
    """Refuse an output whose folder does not exist, before any work is done."""
    if not destination.parent.is_dir():
        raise CoveError(
            f"cannot write {destination}: folder {destination.parent} does not exist (create it or choose another path)"
        )


@contextlib.contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """A temporary path beside `destination`, renamed onto it only if the block succeeds.

    The result gets the permissions a plain open() would give (mkstemp's are 0600), or
    those of the file it replaces.
    """
    check_output_folder(destination)
    handle, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
        mode = destination.stat().st_mode & 0o7777 if destination.exists() else 0o666 & ~_umask()
        os.chmod(temp, mode)
        os.replace(temp, destination)
    finally:
        temp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `data` (str as UTF-8) so readers see the old file or the whole new one, never half."""
    with atomic_path(path) as temp:
        with open(temp, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
