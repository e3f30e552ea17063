"""Errors that the CLI reports as one clear line (exit status 2), not a traceback."""


class TransferlabError(Exception):
    """Base class: a problem with the user's input or environment, explained in the message."""


class BadInputError(TransferlabError, ValueError):
    """Invalid user input: an unknown name, an inconsistent dataset, an impossible option."""


class DataError(TransferlabError):
    """A dataset or file that cannot be used as given."""
