"""Facts measured after training, written into a finished GGUF: the best infill mode per
editor request kind (lsp/line_eval.py), which `fim_format = "auto"` then follows, and the
confidence gate that suits the model (the language server's `minConfidence` when unset).

The file is copied with the keys added (gguf-py's reader and writer; tensors are copied
as they are, quantized or not) and renamed onto the original only when complete.
"""

from __future__ import annotations

from pathlib import Path

from assistant.atomic import atomic_path
from assistant.fim import GATE_KEY, MODE_KEYS


def write_best_modes(path: Path, modes: dict[str, str], min_confidence: float | None = None) -> None:
    """Record `modes` (request kind -> mode spelling, e.g. {"mid-line": "spm:starcoder"})
    and, when given, the measured confidence gate in the GGUF at `path`, replacing earlier
    values."""
    import gguf

    unknown = set(modes) - set(MODE_KEYS)
    if unknown:
        raise ValueError(f"unknown request kinds {sorted(unknown)}: use {', '.join(MODE_KEYS)}")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence {min_confidence} must be between 0 and 1")
    reader = gguf.GGUFReader(path)
    architecture = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    new: dict[str, str | float] = {MODE_KEYS[kind]: mode for kind, mode in modes.items()}
    if min_confidence is not None:
        new[GATE_KEY] = float(min_confidence)
    with atomic_path(path) as temp:
        writer = gguf.GGUFWriter(temp, architecture, endianess=reader.endianess)
        for field in reader.fields.values():
            if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF.") or field.name in new:
                continue
            kind = field.types[0]
            sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)
        for key, value in new.items():
            writer.add_string(key, value) if isinstance(value, str) else writer.add_float32(key, value)
        for tensor in reader.tensors:
            writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor in reader.tensors:
            writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
        writer.close()
