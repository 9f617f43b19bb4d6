"""One error tree; each class carries the exit code the CLI returns for it."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class ReconError(Exception):
    """Base of every error a user can cause. Caught once, at the CLI boundary."""

    exit_code = EXIT_ERROR


class UsageError(ReconError):
    """Bad options or configuration."""


class InputError(ReconError):
    """An input file that cannot be used at all (missing, empty, binary, no header...)."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class ConfigError(ReconError):
    """A profile or config file that is unreadable or invalid."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)
