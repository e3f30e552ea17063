"""The floor below every words module that takes a word space: what they read of one.

``VectorSpace`` is the part of :class:`~transferlab.words.vectors.WordVectors` that the benchmarks
(``evaluate``) and the clustering (``cluster``) use, so they can take a ``WordVectors`` without
importing the module that defines it (which calls them for its methods). ``DEFAULT_RESTRICT`` is the
benchmarks' default vocabulary cut, shared by their functions, ``WordVectors`` and the CLI's config.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Protocol

if TYPE_CHECKING:
    import numpy as np

    from transferlab.words.search import SearchIndex

DEFAULT_RESTRICT = 300_000  # gensim's restrict_vocab default: its numbers and ours are comparable


class VectorSpace(Protocol):
    """A vocabulary in frequency order over a unit-normalised matrix, searchable (``WordVectors`` is one)."""

    index_to_key: list[str]
    key_to_index: dict[str, int]
    search_index: SearchIndex

    def __len__(self) -> int: ...

    @property
    def normed(self) -> np.ndarray: ...

    def indices(self, words: Iterable[str]) -> list[int]: ...

    def has_case_variants(self) -> bool: ...

    def case_groups(self) -> dict[str, list[int]]: ...
