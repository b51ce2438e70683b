"""Errors a user can cause and fix: the CLI and the GUI show their message as is."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """A library's exception in one line for a message: its first line, else its type's name."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


class LiveDetError(Exception):
    """Base class: the message is written for the user, in one line."""


class ModelError(LiveDetError):
    """A model name, manifest, checkpoint or ONNX file could not be used."""


class SourceError(LiveDetError):
    """A video, image, folder or camera could not be read."""


class OutputError(LiveDetError):
    """A result file could not be written."""


class NameTaken(OutputError):
    """A file that must not overwrite another found its name taken (by another process, since it was chosen)."""
