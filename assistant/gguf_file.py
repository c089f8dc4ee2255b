"""GGUF files before llama.cpp sees them: is it one, and what its header says.

Light on purpose (gguf-py's reader only): the loader, `doctor` and `quantize` check a
file here to give a one-line reason instead of llama.cpp's generic load failure.
"""

from __future__ import annotations

from pathlib import Path

from assistant.errors import ModelError

GGUF_MAGIC = b"GGUF"


def check_gguf(path: Path) -> None:
    """A one-line ModelError unless `path` is a readable GGUF file."""
    if not path.exists():
        raise ModelError(f"GGUF file not found: {path} (check the path, or pass --model FILE.gguf)")
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path} (pass the .gguf file itself)")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ModelError(f"cannot read model file {path}: {error.strerror}") from None
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"{path} is not a GGUF file (it starts with {magic!r}): convert checkpoints with `cove convert`"
        )


def gguf_header(path: Path) -> dict[str, object]:
    """The scalar metadata of a GGUF file (arrays such as the vocabulary left out), read
    without loading tensors; {} when the header is unreadable (the loader then says why)."""
    try:
        from gguf import GGUFReader, GGUFValueType

        fields = GGUFReader(path).fields.values()
        return {f.name: f.contents() for f in fields if f.types and f.types[0] is not GGUFValueType.ARRAY}
    except Exception:  # a damaged header: reported by the caller as an unloadable file
        return {}


def gguf_architecture(path: Path) -> str:
    """`general.architecture` of a GGUF file, for error messages."""
    return str(gguf_header(path).get("general.architecture", "unknown"))


def trained_context_length(header: dict[str, object]) -> int | None:
    """The context length the model was trained with, when the header says."""
    value = header.get(f"{header.get('general.architecture')}.context_length")
    return value if isinstance(value, int) else None
