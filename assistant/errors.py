"""The one exception type the command line turns into a one-line error and exit code 2."""


class CoveError(Exception):
    """A problem the user can fix; the message names the problem and the fix, on one line."""


class ModelError(CoveError):
    """A model file that is missing, not GGUF, or not loadable by llama.cpp."""
