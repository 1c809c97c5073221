"""Typed exceptions raised by the pmp-vvc library; only CLIs turn them into exit codes."""


class PmpError(Exception):
    """Base class of every error pmp-vvc raises on bad input or a failed run."""


class ConfigError(PmpError):
    """A cfg file, option value or command-line argument is invalid."""


class InputError(PmpError):
    """An input file is missing, unreadable or inconsistent (e.g. YUV size vs. width/height/frames)."""


class EncodeError(PmpError):
    """An encoder or decoder run failed; the message is one line, ``log_tail`` the end of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class ModelError(PmpError):
    """A model file is missing, corrupt or does not match the expected inputs/outputs."""


class BuildError(PmpError):
    """The compiled extension is missing or was built differently from what is needed."""
