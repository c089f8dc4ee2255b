"""`cove` subcommands that drive the language server's code: `complete` runs its completer,
`stats` reads its acceptance records, `doctor` adds its settings to assistant's checks.

They live here, above assistant/, so that assistant/ never imports lsp/ (tests/test_imports.py)."""
