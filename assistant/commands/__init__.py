"""Subcommands of the editor path; each module has `configure(parser)` and `run(args)`."""
