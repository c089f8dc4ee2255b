"""Tokenizer folder -> GGUF vocabulary: tokens, types, merges or scores, special and FIM ids.

Two kinds are read: byte-level BPE (GPT-2 / Qwen2 style) and SentencePiece from
`tokenizer.model` (LLaMA style). llama.cpp re-implements pre-tokenization with a fixed
regex per `tokenizer.ggml.pre` name, so the converter only accepts a pre-tokenizer it
can name exactly; anything else is an error, because a silent fallback gives a model
that tokenizes differently from how it was trained.

A folder dequantized from a GGUF (`cove finetune --base MODEL.gguf`) carries the GGUF's own
vocabulary in `tokenizer.gguf` (its metadata, no tensors): the `tokenizer.*` keys are copied
key for key, so the fine-tuned model tokenizes exactly as its base. The `tokenizer.json` that
transformers' GGUF loader writes beside it serves training only; converted, it would give
another vocabulary type (Gemma 3's SentencePiece scores become a BPE).

The BPE tokenizer is read as transformers loads it, not as tokenizer.json spells it:
transformers 5 model classes substitute their own pre-tokenizer (a `Qwen2Tokenizer`
applies Qwen2's regex and NFC whatever tokenizer.json says), and parity is with what
`AutoTokenizer` produces. llama.cpp does not apply NFC itself; source text is almost
always NFC already, and the parity tests run on real files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from assistant.errors import CoveError
from assistant.fim import FAMILIES
from assistant.gguf_file import Field, read_fields
from convert import GGUF_VOCAB
from convert.checkpoint import read_json

TokenType = gguf.TokenType

#: The GPT-2 regex, as `pre_tokenizers.ByteLevel(use_regex=True)` applies it.
_GPT2_PRE = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
#: StarCoder's: every digit alone, then the GPT-2 regex (llama.cpp's `starcoder`).
_STARCODER_PRE = ({"type": "Digits", "individual_digits": True}, _GPT2_PRE)
#: Score of a padding token in a SentencePiece vocabulary (llama.cpp's converter's value).
PAD_SCORE = -10000.0
#: Metadata keys of a GGUF's vocabulary (kept whole in a folder dequantized from it, GGUF_VOCAB).
TOKENIZER_KEYS = "tokenizer."
#: Qwen2's pre-tokenizer regex (tokenizer.json `Split` pattern); llama.cpp's `qwen2` regex.
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@dataclass
class Vocab:
    """Everything GGUF's `tokenizer.ggml.*` keys say about a tokenizer."""

    model: str  #: llama.cpp tokenizer model: "gpt2" (byte-level BPE) or "llama" (SentencePiece)
    pre: str | None  #: llama.cpp pre-tokenizer name (BPE only)
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] | None = None
    #: GGUF special-token role (bos, eos, pad, unk, fim_pre, ...) -> id
    special: dict[str, int] = field(default_factory=dict)
    add_bos: bool = False
    add_eos: bool = False
    add_space_prefix: bool | None = None
    chat_template: str | None = None


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def _chat_template(folder: Path, config: dict[str, Any]) -> str | None:
    """The default chat template: chat_template.jinja (transformers 5) or tokenizer_config."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    template = config.get("chat_template")
    if isinstance(template, list):
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    return template or None


def read_vocab(folder: Path, vocab_size: int) -> Vocab:
    """The vocabulary of a tokenizer folder, padded to the model's `vocab_size`."""
    config = read_json(folder / "tokenizer_config.json", "tokenizer_config.json") \
        if (folder / "tokenizer_config.json").is_file() else {}
    spm = folder / "tokenizer.model"
    if not (folder / "tokenizer.json").is_file() and not spm.is_file():
        raise CoveError(f"no tokenizer.json or tokenizer.model in {folder}: save the tokenizer next to the model")
    effective = _as_transformers_loads_it(folder)
    if _is_byte_level(effective):
        vocab = _read_bpe(effective, config, folder)
    elif spm.is_file():
        vocab = _read_spm(spm, config)
    else:
        raise CoveError(
            f"the tokenizer in {folder} is neither byte-level BPE nor SentencePiece with a tokenizer.model: "
            "the converter reads those two kinds"
        )
    if len(vocab.tokens) > vocab_size:
        raise CoveError(
            f"the tokenizer in {folder} has {len(vocab.tokens)} tokens but config.json says vocab_size {vocab_size}: "
            "they belong to different models"
        )
    for i in range(len(vocab.tokens), vocab_size):
        vocab.tokens.append(f"[PAD{i}]")
        vocab.types.append(TokenType.UNUSED)
        if vocab.scores is not None:
            vocab.scores.append(PAD_SCORE)
    vocab.chat_template = _chat_template(folder, config)
    _special_ids(vocab, config)
    return vocab


def load_transformers_tokenizer(folder: Path):
    """`AutoTokenizer.from_pretrained(folder)`, or a one-line error."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder)
    except Exception as error:  # transformers raises many unrelated types for a bad folder
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CoveError(f"transformers cannot load the tokenizer in {folder} ({detail}): save it again") from None


def _as_transformers_loads_it(folder: Path) -> dict[str, Any]:
    """The tokenizer `AutoTokenizer` builds from `folder`, in tokenizer.json form."""
    backend = getattr(load_transformers_tokenizer(folder), "backend_tokenizer", None)
    return json.loads(backend.to_str()) if backend is not None else {}


def _is_byte_level(data: dict[str, Any]) -> bool:
    model = data.get("model") or {}
    return model.get("type") == "BPE" and not model.get("byte_fallback") and \
        (data.get("decoder") or {}).get("type") == "ByteLevel"


def _pre_tokenizer(data: dict[str, Any], source: Path) -> str:
    """The llama.cpp name of the pre-tokenizer in `data`, or an error."""
    pre = data.get("pre_tokenizer") or {}
    normalizer = data.get("normalizer")
    if {k: pre.get(k) for k in _GPT2_PRE} == _GPT2_PRE and normalizer is None:
        return "gpt-2"
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if steps and len(steps) == 2 and normalizer is None and all(
            {k: step.get(k) for k in want} == want for step, want in zip(steps, _STARCODER_PRE)):
        return "starcoder"
    if (
        steps and len(steps) == 2
        and steps[0].get("type") == "Split" and (steps[0].get("pattern") or {}).get("Regex") == QWEN2_REGEX
        and steps[1].get("type") == "ByteLevel" and not steps[1].get("use_regex", True)
        and normalizer in (None, {"type": "NFC"})
    ):
        return "qwen2"
    raise CoveError(
        f"the pre-tokenizer transformers applies for {source} ({json.dumps(pre)[:120]}, normalizer {json.dumps(normalizer)[:40]}) "
        "is not one llama.cpp reproduces (gpt-2, starcoder or qwen2): converting it would tokenize differently; "
        "retrain the tokenizer with training.tokenizer.train_tokenizer"
    )


def _read_bpe(data: dict[str, Any], config: dict[str, Any], folder: Path) -> Vocab:
    pre = _pre_tokenizer(data, folder)
    model = data["model"]
    by_id: dict[int, tuple[str, int]] = {i: (t, TokenType.NORMAL) for t, i in model["vocab"].items()}
    for added in data.get("added_tokens") or []:
        kind = TokenType.CONTROL if added.get("special") else TokenType.USER_DEFINED
        by_id[added["id"]] = (added["content"], kind)
    size = max(by_id) + 1
    missing = [i for i in range(size) if i not in by_id]
    if missing:
        raise CoveError(f"the tokenizer in {folder} has no token for id(s) {missing[:5]}: the vocabulary has holes")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    return Vocab(
        model="gpt2",
        pre=pre,
        tokens=[by_id[i][0] for i in range(size)],
        types=[int(by_id[i][1]) for i in range(size)],
        merges=merges,
        add_bos=bool(config.get("add_bos_token", False)),
        add_eos=bool(config.get("add_eos_token", False)),
    )


def _read_spm(path: Path, config: dict[str, Any]) -> Vocab:
    try:
        import sentencepiece
        from sentencepiece import sentencepiece_model_pb2
    except ImportError:
        raise CoveError(
            f"{path} is a SentencePiece model: install the sentencepiece package to convert it"
        ) from None
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
        processor = sentencepiece.SentencePieceProcessor(model_proto=proto.SerializeToString())
    except Exception as error:  # the protobuf and sentencepiece errors share no base class
        raise CoveError(f"{path} is not a SentencePiece model ({error}): save the tokenizer again") from None
    if proto.trainer_spec.model_type != sentencepiece_model_pb2.TrainerSpec.BPE and \
            proto.trainer_spec.model_type != sentencepiece_model_pb2.TrainerSpec.UNIGRAM:
        raise CoveError(f"{path} is a SentencePiece {proto.trainer_spec.model_type} model: only BPE and unigram convert")
    kinds = {
        sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL: TokenType.NORMAL,
        sentencepiece_model_pb2.ModelProto.SentencePiece.UNKNOWN: TokenType.UNKNOWN,
        sentencepiece_model_pb2.ModelProto.SentencePiece.CONTROL: TokenType.CONTROL,
        sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED: TokenType.USER_DEFINED,
        sentencepiece_model_pb2.ModelProto.SentencePiece.UNUSED: TokenType.UNUSED,
        sentencepiece_model_pb2.ModelProto.SentencePiece.BYTE: TokenType.BYTE,
    }
    pieces = proto.pieces
    vocab = Vocab(
        model="llama",
        pre=None,
        tokens=[p.piece for p in pieces],
        types=[int(kinds[p.type]) for p in pieces],
        scores=[float(p.score) for p in pieces],
        add_bos=bool(config.get("add_bos_token", True)),
        add_eos=bool(config.get("add_eos_token", False)),
        add_space_prefix=bool(proto.normalizer_spec.add_dummy_prefix),
    )
    for role, value in (("bos", processor.bos_id()), ("eos", processor.eos_id()),
                        ("unk", processor.unk_id()), ("pad", processor.pad_id())):
        if value >= 0:
            vocab.special[role] = value
    return vocab


def _special_ids(vocab: Vocab, config: dict[str, Any]) -> None:
    """bos/eos/pad/unk from tokenizer_config, and the FIM sentinels of the first family found."""
    ids = {token: i for i, token in enumerate(vocab.tokens)}
    for role in ("bos", "eos", "pad", "unk"):
        text = _token_text(config.get(f"{role}_token"))
        if text is not None:
            token_id = ids.get(text)
            if token_id is None:
                raise CoveError(f"tokenizer_config.json names {role}_token {text!r}, which is not in the vocabulary")
            vocab.special[role] = token_id
    if "bos" not in vocab.special and "eos" in vocab.special:
        # GPT-2 convention: without a bos token, bos is end-of-text (never added: add_bos is off).
        vocab.special["bos"] = vocab.special["eos"]
    # No eom/eot ids: llama.cpp warns at every load of a file that names one it did not
    # recognise by text itself. CodeGen2's <eom> ends a middle through the engine's stop
    # texts (assistant.fim.FimFormat.stop_texts) instead.
    for family in FAMILIES:
        roles = {"fim_pre": family.prefix, "fim_suf": family.suffix, "fim_mid": family.middle,
                 "fim_pad": family.pad, "fim_rep": family.repo, "fim_sep": family.file_sep}
        if all(ids.get(roles[r]) is not None for r in ("fim_pre", "fim_suf", "fim_mid")):
            for role, text in roles.items():
                if text is not None and ids.get(text) is not None:
                    vocab.special[role] = ids.get(text)
            break


#: Special role -> the GGUF key it is written under.
SPECIAL_KEYS = {
    "bos": gguf.Keys.Tokenizer.BOS_ID,
    "eos": gguf.Keys.Tokenizer.EOS_ID,
    "pad": gguf.Keys.Tokenizer.PAD_ID,
    "unk": gguf.Keys.Tokenizer.UNK_ID,
    "fim_pre": gguf.Keys.Tokenizer.FIM_PRE_ID,
    "fim_suf": gguf.Keys.Tokenizer.FIM_SUF_ID,
    "fim_mid": gguf.Keys.Tokenizer.FIM_MID_ID,
    "fim_pad": gguf.Keys.Tokenizer.FIM_PAD_ID,
    "fim_rep": gguf.Keys.Tokenizer.FIM_REP_ID,
    "fim_sep": gguf.Keys.Tokenizer.FIM_SEP_ID,
}


def write_vocab(writer: gguf.GGUFWriter, vocab: Vocab) -> None:
    """Add the `tokenizer.ggml.*` keys to `writer`."""
    writer.add_tokenizer_model(vocab.model)
    if vocab.pre:
        writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    for role, token_id in vocab.special.items():
        writer.add_uint32(SPECIAL_KEYS[role], token_id)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)


def save_gguf_vocab(source: Path, folder: Path) -> Path:
    """Keep the vocabulary of the GGUF at `source` as `folder`/tokenizer.gguf: its metadata
    without tensors, which llama.cpp loads `vocab_only` to tokenize as the base does."""
    from assistant.atomic import atomic_path

    fields = read_fields(source, "")
    if f"{TOKENIZER_KEYS}ggml.tokens" not in fields:
        raise CoveError(f"{source} has no vocabulary (tokenizer.ggml.tokens): it cannot be fine-tuned")
    architecture = fields.pop(gguf.Keys.General.ARCHITECTURE).value
    destination = folder / GGUF_VOCAB
    with atomic_path(destination) as temp:
        writer = gguf.GGUFWriter(temp, architecture)
        write_vocab_fields(writer, fields)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.close()
    return destination


def gguf_vocab(folder: Path) -> dict[str, Field] | None:
    """The `tokenizer.*` keys of `folder`/tokenizer.gguf, or None when the folder has none."""
    path = folder / GGUF_VOCAB
    return read_fields(path, TOKENIZER_KEYS) if path.is_file() else None


def vocab_size_of(fields: dict[str, Field]) -> int:
    return len(fields[f"{TOKENIZER_KEYS}ggml.tokens"].value)


def write_vocab_fields(writer: gguf.GGUFWriter, fields: dict[str, Field]) -> None:
    """Add keys read by `read_fields` to `writer`, key for key."""
    for key, field in fields.items():
        kind = gguf.GGUFValueType(field.value_type)
        sub = gguf.GGUFValueType(field.item_type) if field.item_type is not None else None
        writer.add_key_value(key, field.value, kind, sub_type=sub)
