"""GGUF files before llama.cpp sees them: is it one, and what its header says.

The loader, `doctor`, `models list` and `quantize` read a file here to give a one-line
reason instead of llama.cpp's generic load failure, and to learn a few scalars (context
length, FIM token ids) before loading. gguf-py's `GGUFReader` builds numpy views of every
array in the header, so a 262k-token vocabulary cost 21 s; this walks the key-value
section directly through a memory map and skips arrays by their length, so the time no
longer grows with the vocabulary (the token strings are only scanned, never kept).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ModelError

GGUF_MAGIC = b"GGUF"

#: GGUF value type id -> struct format of a scalar of that type (8 = string, 9 = array).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
#: Token spellings worth remembering while the vocabulary is scanned: control-token
#: sentinels start with `<` (or SentencePiece's `▁<`), and nothing else is kept.
_SENTINEL_STARTS = (b"<", "▁<".encode())
_TOKENS_KEY = "tokenizer.ggml.tokens"


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


class _Cursor:
    """Reads little-endian GGUF values from a buffer, front to back."""

    def __init__(self, buffer: mmap.mmap) -> None:
        self.buffer = buffer
        self.offset = 0

    def unpack(self, fmt: str) -> object:
        (value,) = struct.unpack_from(fmt, self.buffer, self.offset)
        self.offset += struct.calcsize(fmt)
        return value

    def raw_string(self) -> bytes:
        length = self.unpack("<Q")
        start, self.offset = self.offset, self.offset + length
        if self.offset > len(self.buffer):
            raise ValueError("string runs past the end of the file")
        return self.buffer[start:self.offset]

    def skip_array(self, item_type: int, count: int, keep: list[str] | None) -> None:
        """Step over an array; string items that look like sentinels go to `keep`."""
        if item_type in _SCALARS:
            self.offset += count * struct.calcsize(_SCALARS[item_type])
        elif item_type == _STRING:
            for index in range(count):
                length = self.unpack("<Q")
                if keep is not None and self.buffer[self.offset:self.offset + 1] in (b"<", b"\xe2"):
                    text = self.buffer[self.offset:self.offset + length]
                    if text.startswith(_SENTINEL_STARTS):
                        keep.append(text.decode("utf-8", errors="replace"))
                self.offset += length
        elif item_type == _ARRAY:
            for _ in range(count):
                inner_type, inner_count = self.unpack("<I"), self.unpack("<Q")
                self.skip_array(inner_type, inner_count, None)
        else:
            raise ValueError(f"unknown GGUF value type {item_type}")
        if self.offset > len(self.buffer):
            raise ValueError("array runs past the end of the file")

    def read_array(self, item_type: int, count: int) -> list:
        """An array of scalars or strings as a list (strings decoded as UTF-8)."""
        if item_type in _SCALARS:
            fmt = _SCALARS[item_type]
            values = list(struct.unpack_from(f"<{count}{fmt[1:]}", self.buffer, self.offset))
            self.offset += count * struct.calcsize(fmt)
            return values
        if item_type == _STRING:
            return [_text(self.raw_string()) for _ in range(count)]
        raise ValueError(f"arrays of GGUF type {item_type} are not read")


def _text(raw: bytes) -> str | bytes:
    """A token's text; its bytes as they are when they are not UTF-8 (written back unchanged)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return bytes(raw)


@dataclass(frozen=True)
class Field:
    """One metadata value with its GGUF value type (and item type for arrays), enough
    to write it again unchanged (gguf-py's `GGUFWriter.add_key_value`)."""

    value: object
    value_type: int
    item_type: int | None = None


def read_fields(path: Path, prefix: str) -> dict[str, Field]:
    """Every metadata key of `path` starting with `prefix`, arrays included, read directly
    (a 262k-token vocabulary in about a second where gguf-py's reader takes 21 s)."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        cursor = _Cursor(buffer)
        if buffer[:4] != GGUF_MAGIC:
            raise ValueError(f"{path} is not a GGUF file")
        cursor.offset = 8
        cursor.unpack("<Q")  # tensor count
        fields: dict[str, Field] = {}
        for _ in range(cursor.unpack("<Q")):
            key = cursor.raw_string().decode("utf-8", errors="replace")
            value_type = cursor.unpack("<I")
            wanted = key.startswith(prefix)
            if value_type in _SCALARS:
                value = cursor.unpack(_SCALARS[value_type])
                item_type = None
            elif value_type == _STRING:
                value, item_type = cursor.raw_string().decode("utf-8", errors="replace"), None
            elif value_type == _ARRAY:
                item_type, count = cursor.unpack("<I"), cursor.unpack("<Q")
                if not wanted:
                    cursor.skip_array(item_type, count, None)
                    continue
                value = cursor.read_array(item_type, count)
            else:
                raise ValueError(f"unknown GGUF value type {value_type} for {key}")
            if wanted:
                fields[key] = Field(value, value_type, item_type)
        return fields


def read_header(path: Path, *, sentinels: bool = False) -> tuple[dict[str, object], list[str]]:
    """(the scalar metadata, the vocabulary's sentinel-like token texts when asked for).

    Raises ValueError or OSError for a damaged or unreadable header."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        cursor = _Cursor(buffer)
        if buffer[:4] != GGUF_MAGIC:
            raise ValueError("not a GGUF file")
        cursor.offset = 4
        version = cursor.unpack("<I")
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        cursor.unpack("<Q")  # tensor count
        kv_count = cursor.unpack("<Q")
        scalars: dict[str, object] = {}
        found: list[str] = []
        for _ in range(kv_count):
            key = cursor.raw_string().decode("utf-8", errors="replace")
            value_type = cursor.unpack("<I")
            if value_type in _SCALARS:
                scalars[key] = cursor.unpack(_SCALARS[value_type])
            elif value_type == _STRING:
                scalars[key] = cursor.raw_string().decode("utf-8", errors="replace")
            elif value_type == _ARRAY:
                item_type, count = cursor.unpack("<I"), cursor.unpack("<Q")
                cursor.skip_array(item_type, count, found if sentinels and key == _TOKENS_KEY else None)
            else:
                raise ValueError(f"unknown GGUF value type {value_type} for {key}")
        return scalars, found


def gguf_header(path: Path) -> dict[str, object]:
    """The scalar metadata of a GGUF file (arrays such as the vocabulary left out), read
    without loading tensors; {} when the header is unreadable (the loader then says why)."""
    try:
        return read_header(path)[0]
    except (OSError, ValueError, struct.error):  # a damaged header: reported by the caller
        return {}


def gguf_architecture(path: Path) -> str:
    """`general.architecture` of a GGUF file, for error messages."""
    return str(gguf_header(path).get("general.architecture", "unknown"))


def trained_context_length(header: dict[str, object]) -> int | None:
    """The context length the model was trained with, when the header says."""
    value = header.get(f"{header.get('general.architecture')}.context_length")
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class GGUFSummary:
    """What `cove models list` shows of a model file, read without loading it."""

    path: Path
    size_bytes: int
    architecture: str
    name: str
    context_length: int | None
    #: The FIM family whose sentinels the vocabulary has (`starcoder`, `qwen`, ... or
    #: `codegen2`), or None: the model completes left to right.
    fim_family: str | None
    chat_template: bool

    @property
    def mode(self) -> str:
        return f"fim ({self.fim_family})" if self.fim_family else "left-to-right"


def gguf_summary(path: Path) -> GGUFSummary:
    """The facts of a model file; ModelError with a one-line reason for a bad file."""
    from assistant.fim import FAMILIES, CodeGen2

    check_gguf(path)
    try:
        header, sentinels = read_header(path, sentinels=True)
    except (OSError, ValueError, struct.error) as error:
        raise ModelError(f"{path} has a damaged GGUF header ({error}): download or convert it again") from None
    present = set(sentinels)
    family = next((f.family for f in FAMILIES if {f.prefix, f.suffix, f.middle} <= present), None)
    if family is None and {CodeGen2.mask(1), CodeGen2.SEP, CodeGen2.EOM} <= present:
        family = "codegen2"
    architecture = str(header.get("general.architecture", "unknown"))
    return GGUFSummary(
        path=path,
        size_bytes=path.stat().st_size,
        architecture=architecture,
        name=str(header.get("general.name") or path.stem),
        context_length=trained_context_length(header),
        fim_family=family,
        chat_template=bool(header.get("tokenizer.chat_template")),
    )
