"""Errors that the CLI reports as one clear line (exit status 2), not a traceback."""


class TransferlabError(Exception):
    """Base class: a problem with the user's input or environment, explained in the message."""


class BadInputError(TransferlabError, ValueError):
    """Invalid user input: an unknown name, an inconsistent dataset, an impossible option."""


class DataError(TransferlabError):
    """A dataset or file that cannot be used as given."""


class WriteError(TransferlabError, OSError):
    """A file or folder could not be written (full disk, read-only filesystem, no permission, quota, I/O
    error); the message names the path and the operation.  Also an ``OSError`` (with the original
    ``errno``), so code that handles a failed write keeps handling it."""


class DamagedFileError(DataError):
    """A file the user gave or a run wrote is there but cannot be used: truncated, zero-filled, not
    the kind of file it should be."""
