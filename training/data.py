"""From repositories to packed, memory-mapped token shards, and from shards to batches.

build_dataset: walk -> filter -> evaluation data out (training/contamination.py) -> redact
-> deduplicate -> split by path hash -> tokenizer -> objective per file -> tokenize -> pack
-> shards + manifest. The manifest carries a fingerprint of everything the shards depend
on (file contents, settings, tokenizer, code version); a rebuild with the same fingerprint
reuses the shards as they are.

Batches: fixed rows of `seq_len + 1` tokens cut from the shards (no padding, so the loss
is only ever on real tokens), visited in a seeded per-epoch order that a step number
alone determines, which is what makes resuming and multi-process training exact.
"""

from __future__ import annotations

import hashlib
import json
import random
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from assistant.atomic import write_atomic
from assistant.errors import CoveError
from training.config import TrainConfig
from training.contamination import drop_evaluation, evaluation_exclusions
from training.dedup import deduplicate
from training.objectives import Mixture, Objective, fim_tokens_for
from training.redact import redact
from training.sources import Filters, SourceFile, resolve_source, walk_repository
from training.tokenizer import encode_pieces, load_tokenizer, train_tokenizer

#: Bump when the shard layout or the example layout changes: old shards are then rebuilt.
DATA_VERSION = 2
#: Tokens per shard file.
SHARD_TOKENS = 1 << 27
#: TrainConfig fields the shards depend on (the rest only affect training).
DATA_FIELDS = (
    "languages", "exclude_languages", "max_file_bytes", "max_line_length", "max_mean_line_length",
    "min_alnum_share", "max_files", "near_dup_threshold", "val_fraction", "exclude_repos", "tokenizer", "vocab_size",
    "mixture", "max_spans", "fim_line_share", "seed", "seq_len",
)
#: Tokens an infill example adds to its text: sentinels, repository line, end tokens.
INFILL_OVERHEAD = 16
MANIFEST = "manifest.json"
VAL_FILES = "val_files.jsonl"


def _bucket(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 1_000_000


def in_validation(key: str, fraction: float) -> bool:
    """Deterministic split: a file's place depends only on its repository/path."""
    return _bucket(key) < fraction * 1_000_000


def filters_of(cfg: TrainConfig) -> Filters:
    return Filters(cfg.max_file_bytes, cfg.max_line_length, cfg.max_mean_line_length, cfg.min_alnum_share,
                   frozenset(cfg.languages), frozenset(cfg.exclude_languages))


def collect(sources: Iterable[str], cfg: TrainConfig, clone_dir: Path, dropped: Counter) -> list[SourceFile]:
    """The kept files of all repositories, before redaction and deduplication."""
    files: list[SourceFile] = []
    for source in sources:
        files.extend(walk_repository(resolve_source(source, clone_dir), filters_of(cfg), dropped))
    if cfg.max_files and len(files) > cfg.max_files:
        chosen = set(sorted(range(len(files)), key=lambda i: _bucket(files[i].key))[:cfg.max_files])
        dropped["over_max_files"] += len(files) - len(chosen)
        files = [f for i, f in enumerate(files) if i in chosen]
    return files


def clean(files: list[SourceFile], cfg: TrainConfig, dropped: Counter, redactions: Counter) -> list[SourceFile]:
    """Secrets redacted, then exact and near duplicates dropped (in that order: copies that differ
    only in a secret count as copies)."""
    redacted = [SourceFile(f.repo, f.path, f.language, redact(f.text, redactions)) for f in files]
    return list(deduplicate(redacted, cfg.near_dup_threshold, dropped))


def _fingerprint(cfg: TrainConfig, files: list[SourceFile]) -> str:
    digest = hashlib.sha256()
    settings = {name: getattr(cfg, name) for name in DATA_FIELDS}
    digest.update(json.dumps([DATA_VERSION, settings, _tokenizer_identity(cfg.tokenizer)], sort_keys=True).encode())
    for source in files:
        digest.update(f"{source.key}\0{hashlib.sha256(source.text.encode()).hexdigest()}\n".encode())
    return digest.hexdigest()


def _tokenizer_identity(tokenizer: str) -> str:
    if not tokenizer:
        return "trained"
    path = Path(tokenizer)
    target = path / "tokenizer.json" if path.is_dir() else path
    if not target.exists():
        return tokenizer
    if target.stat().st_size < 64 << 20:
        return hashlib.sha256(target.read_bytes()).hexdigest()
    stat = target.stat()
    return f"{target.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


class _ShardWriter:
    """Appends token ids to `{split}-NNNN.bin` files of at most SHARD_TOKENS tokens."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype) -> None:
        self.folder, self.split, self.dtype = folder, split, dtype
        self.buffer = array("H" if dtype == np.uint16 else "I")
        self.shards: list[dict] = []

    def write(self, ids: list[int], row: tuple[int, int] | None = None) -> None:
        """Append `ids`; with `row=(seq_len, pad_id)`, first pad to the next row when they
        would otherwise straddle two training rows (rows are seq_len + 1 tokens from shard start)."""
        if row is not None:
            seq_len, pad_id = row
            offset = len(self.buffer) % seq_len
            if offset and offset + len(ids) > seq_len + 1 and len(ids) <= seq_len + 1:
                self.buffer.extend([pad_id] * (seq_len - offset))
        self.buffer.extend(ids)
        while len(self.buffer) >= SHARD_TOKENS:
            self._flush(self.buffer[:SHARD_TOKENS])
            del self.buffer[:SHARD_TOKENS]

    def close(self) -> list[dict]:
        if len(self.buffer) or not self.shards:
            self._flush(self.buffer)
        return self.shards

    def _flush(self, tokens: array) -> None:
        name = f"{self.split}-{len(self.shards):04d}.bin"
        data = tokens.tobytes()
        write_atomic(self.folder / name, data)
        self.shards.append({"file": name, "tokens": len(tokens), "sha256": hashlib.sha256(data).hexdigest()})


def row_sized_chunks(lines: list[str], line_tokens: list[int], budget: int) -> list[str]:
    """Consecutive runs of whole lines of at most `budget` tokens (a longer line stays whole).

    Infill examples are cut from these, so each fits one training row: context-level FIM,
    which works better than FIM over whole files (field notes). A file longer than a row
    would otherwise put its prefix, suffix and middle in different rows, and the model
    would never see them together.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line, count in zip(lines, line_tokens):
        if current and size + count > budget:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += count
    if current:
        chunks.append("".join(current))
    return chunks


def _examples(mixture: Mixture, objective: Objective, source: SourceFile, tokenizer, seq_len: int | None,
              rng: random.Random) -> list[list[int]]:
    """Token ids of one file's examples: the whole file, or with `seq_len`, one example per
    row-sized chunk."""
    if seq_len is None:
        return [encode_pieces(tokenizer, mixture.example(objective, source.text, source.path, rng))]
    lines = source.text.splitlines(keepends=True)
    counts = [len(e.ids) for e in tokenizer.encode_batch(lines, add_special_tokens=False)]
    budget = seq_len + 1 - INFILL_OVERHEAD - len(tokenizer.encode(source.path, add_special_tokens=False).ids)
    return [encode_pieces(tokenizer, mixture.example(objective, chunk, source.path, rng))
            for chunk in row_sized_chunks(lines, counts, max(1, budget))]


#: Settings that name paths of the machine that prepared the data, not what the data holds.
MACHINE_PATHS = ("exclude_repos", "tokenizer")


def _reusable(folder: Path, fingerprint: str) -> dict | None:
    manifest = _intact(folder)
    return manifest if manifest is not None and manifest.get("fingerprint") == fingerprint else None


def _carried(cfg: TrainConfig, folder: Path) -> dict | None:
    """Shards prepared on another machine (say on a CPU, for a GPU to train on) whose sources
    are not on this one: usable as they are when they were made with the same settings."""
    if any(Path(s).exists() for s in cfg.sources):
        return None
    manifest = _intact(folder)
    if manifest is None or not Path(manifest["tokenizer"]).exists():
        return None
    wanted = {name: getattr(cfg, name) for name in DATA_FIELDS if name not in MACHINE_PATHS}
    return manifest if {k: manifest["settings"].get(k) for k in wanted} == wanted else None


def _intact(folder: Path) -> dict | None:
    """The folder's manifest when every shard it lists is there whole."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    itemsize = np.dtype(manifest["dtype"]).itemsize
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            path = folder / shard["file"]
            if not path.is_file() or path.stat().st_size != shard["tokens"] * itemsize:
                return None
    return manifest


def build_dataset(cfg: TrainConfig, folder: Path, log: Callable[[str], None] = print) -> dict:
    """Build (or reuse) the shards of `cfg.sources` in `folder`; returns the manifest."""
    if not cfg.sources:
        raise CoveError("no repositories given: pass one or more repository folders or git URLs")
    carried = _carried(cfg, folder)
    if carried is not None:
        log(f"data: the sources are not on this machine; using the shards prepared in {folder}")
        return carried | {"reused": True}
    folder.mkdir(parents=True, exist_ok=True)
    dropped: Counter = Counter()
    files = drop_evaluation(collect(cfg.sources, cfg, folder / "repos", dropped),
                            evaluation_exclusions(cfg.exclude_repos), dropped)
    fingerprint = _fingerprint(cfg, files)
    manifest = _reusable(folder, fingerprint)
    if manifest is not None:
        log(f"data: reusing {folder} (inputs unchanged)")
        return manifest | {"reused": True}

    redactions: Counter = Counter()
    seen = len(files) + sum(dropped.values())  # before deduplication adds its drops
    kept = clean(files, cfg, dropped, redactions)
    splits = {"train": [], "val": []}
    for source in kept:
        splits["val" if in_validation(source.key, cfg.val_fraction) else "train"].append(source)
    if cfg.val_fraction > 0 and not splits["val"] and len(kept) > 1:
        # Small repositories: hold out the file with the lowest hash rather than nothing.
        first = min(splits["train"], key=lambda f: _bucket(f.key))
        splits["train"].remove(first)
        splits["val"].append(first)
    if not splits["train"]:
        raise CoveError(f"no training files left in {', '.join(cfg.sources)} after filtering ({dict(dropped)}): "
                        "add repositories or relax the filters/languages")

    tokenizer_dir = Path(cfg.tokenizer) if cfg.tokenizer else train_tokenizer(
        (f.text for f in splits["train"]), folder / "tokenizer", cfg.vocab_size)
    tokenizer = load_tokenizer(tokenizer_dir)
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    dtype = _token_dtype(tokenizer.get_vocab_size(with_added_tokens=True))
    mixture = Mixture(cfg.mixture, vocab, cfg.max_spans, line_share=cfg.fim_line_share)
    rng = random.Random(cfg.seed)
    fim_tokens = fim_tokens_for(vocab)
    pad_id = vocab.get(fim_tokens.pad) if fim_tokens and fim_tokens.pad else None

    manifest_splits: dict[str, dict] = {}
    objectives: Counter = Counter()
    for split, split_files in splits.items():
        writer = _ShardWriter(folder, split, dtype)
        tokens = 0
        for source in split_files:
            # Validation stays causal: its loss and bits per byte compare across mixtures.
            objective = mixture.choose(rng) if split == "train" else Objective.CAUSAL
            # Infill examples are cut to rows (context-level) where padding exists; causal files stay whole.
            chunked = pad_id is not None and objective is not Objective.CAUSAL
            for ids in _examples(mixture, objective, source, tokenizer, cfg.seq_len if chunked else None, rng):
                writer.write(ids, (cfg.seq_len, pad_id) if chunked else None)
                tokens += len(ids)
            objectives[f"{split}:{objective.value}"] += 1
        manifest_splits[split] = {
            "files": len(split_files), "tokens": tokens,
            "bytes": sum(len(f.text.encode()) for f in split_files), "shards": writer.close(),
        }
    write_atomic(folder / VAL_FILES, "".join(
        json.dumps({"repo": f.repo, "path": f.path, "language": f.language, "text": f.text}) + "\n" for f in splits["val"]))
    manifest = {
        "version": DATA_VERSION, "fingerprint": fingerprint,
        "sources": [str(s) for s in cfg.sources],
        "settings": {name: getattr(cfg, name) for name in DATA_FIELDS},
        "tokenizer": str(tokenizer_dir), "dtype": dtype.name, "pad_id": pad_id,
        "counts": {"files_seen": seen, "files_kept": len(kept),
                   "dropped": dict(sorted(dropped.items())), "redactions": dict(sorted(redactions.items())),
                   "objectives": dict(sorted(objectives.items()))},
        "files": {split: [f.key for f in split_files] for split, split_files in splits.items()},
        "splits": manifest_splits,
    }
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    log(f"data: {len(kept)} files, {manifest_splits['train']['tokens']:,} train / "
        f"{manifest_splits['val']['tokens']:,} val tokens in {folder}")
    return manifest | {"reused": False}


def read_val_files(folder: Path) -> list[dict]:
    """The held-out files (redacted text), for infill evaluation."""
    path = folder / VAL_FILES
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


class TokenRows:
    """Rows of `seq_len + 1` tokens from one split's memmapped shards; row i overlaps i+1 by one token."""

    def __init__(self, folder: Path, manifest: dict, split: str, seq_len: int) -> None:
        self.seq_len = seq_len
        #: Token that fills a row's end where an infill example would straddle two rows; the loss skips it.
        self.pad_id: int | None = manifest.get("pad_id")
        self.maps = [np.memmap(folder / s["file"], dtype=manifest["dtype"], mode="r")
                     for s in manifest["splits"][split]["shards"] if s["tokens"] > seq_len]
        counts = [(len(m) - 1) // seq_len for m in self.maps]
        self.starts = np.cumsum([0] + counts)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int) -> np.ndarray:
        shard = int(np.searchsorted(self.starts, index, side="right") - 1)
        offset = (index - int(self.starts[shard])) * self.seq_len
        return np.asarray(self.maps[shard][offset:offset + self.seq_len + 1], dtype=np.int64)


@dataclass(frozen=True)
class Stream:
    """One source of rows and how many rows of every global batch it supplies."""

    rows: TokenRows
    per_batch: int


class Batches:
    """The rows of optimizer step `step`, for one process and one micro-step.

    Each stream is visited in a fresh seeded permutation per epoch; the global batch of a
    step is fixed by (seed, step) alone, and processes take disjoint slices of it, so
    1 process x 2 micro-steps and 2 processes x 1 micro-step see the same rows.
    """

    def __init__(self, streams: list[Stream], seed: int) -> None:
        for stream in streams:
            if len(stream.rows) == 0:
                raise CoveError(f"too little text for one training row of {stream.rows.seq_len + 1} tokens: "
                                "add files or lower seq_len")
        self.streams, self.seed = streams, seed
        self._perms: dict[tuple[int, int], np.ndarray] = {}

    @property
    def global_batch(self) -> int:
        return sum(s.per_batch for s in self.streams)

    @property
    def pad_id(self) -> int | None:
        """The padding token the loss skips (streams share one tokenizer)."""
        return self.streams[0].rows.pad_id

    def _order(self, stream: int, epoch: int) -> np.ndarray:
        key = (stream, epoch)
        if key not in self._perms:
            self._perms = {k: v for k, v in self._perms.items() if k[0] != stream}
            rng = np.random.default_rng([self.seed, stream, epoch])
            self._perms[key] = rng.permutation(len(self.streams[stream].rows))
        return self._perms[key]

    def _slots(self, step: int) -> list[tuple[int, int]]:
        """(stream, row) of every row of the global batch of `step`, in order."""
        slots = []
        for index, stream in enumerate(self.streams):
            for position in range(step * stream.per_batch, (step + 1) * stream.per_batch):
                epoch, i = divmod(position, len(stream.rows))
                slots.append((index, int(self._order(index, epoch)[i])))
        return slots

    def micro_batch(self, step: int, micro: int, micro_size: int, rank: int = 0, world: int = 1) -> np.ndarray:
        """Rows [tokens] of one process's micro-step: its slice of the step's global batch."""
        start = (micro * world + rank) * micro_size
        return np.stack([self.streams[s].rows[r] for s, r in self._slots(step)[start:start + micro_size]])
