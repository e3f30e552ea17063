"""The Python API's argument checks, with the words config's messages (``words/config.py``).

The rules are declared once, in the config; these functions only pre-screen the usual valid value
(a plain int in range) and hand anything else to the config, so ``top_k=0`` in Python gets the
message ``--top-k 0`` gets on the command line, word for word.  pydantic is imported only on that
path, so a valid call does not pay for its import (see docs/words.md).
"""
from __future__ import annotations

from typing import Any


def _by_config(name: str, value: Any) -> Any:
    from transferlab.words.config import check

    return check(name, value)


def top_k(value: Any) -> int:
    """How many answers per query: an integer >= 1."""
    return value if type(value) is int and value >= 1 else _by_config("top_k", value)


def restrict(value: Any) -> int | None:
    """Only the ``value`` most frequent words answer: None or 0 = all, else an integer >= 1."""
    return value if value is None or (type(value) is int and value >= 0) else _by_config("restrict", value)


def clusters(value: Any) -> int | None:
    """The number of clusters ``k``: None (chosen by silhouette) or an integer >= 1."""
    return value if value is None or (type(value) is int and value >= 1) else _by_config("k", value)
