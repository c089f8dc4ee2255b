"""Cove's language server: infill completions for any LSP editor (pygls 2.x).

Never imports torch or transformers: the server starts in well under a second.
"""
