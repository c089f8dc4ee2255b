"""Transformers checkpoints and peft adapters to GGUF, quantization, and proof of parity.

GGUF is written with the `gguf` package and quantized with llama.cpp, so what llama.cpp
reads is what its own tools would have written. torch and transformers are imported
inside functions only: `cove --help` must stay fast.
"""

#: The vocabulary kept from a GGUF base in a folder dequantized from it (its metadata, no tensors).
GGUF_VOCAB = "tokenizer.gguf"
#: A model folder's tokenizer: transformers' files, SentencePiece's model, the chat template
#: and the vocabulary kept from a GGUF base; copied whenever a folder is written from another.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                   "chat_template.jinja", GGUF_VOCAB)
