"""Exceptions a user can act on. The CLI prints them as one line and exits non-zero."""


class SpikeportError(Exception):
    """A user-facing error: the message names the thing at fault (file, module path, field)."""


class UnsupportedError(SpikeportError):
    """A model element, file layout or option that spikeport does not support."""


class CheckpointError(SpikeportError):
    """A checkpoint that cannot be read safely or does not match the requested architecture."""


class LavaNotAvailableError(SpikeportError):
    """lava-nc / lava-dl are not installed (run `make setup`)."""


class DataError(SpikeportError):
    """A data set that is missing, malformed or unsafe to read (``--data SPEC``)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
