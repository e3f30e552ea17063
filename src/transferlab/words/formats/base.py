"""What every reader and writer shares: the format names, the built-in space's name, the summary of a
load (:class:`LoadSummary`) and what a reader returns (:class:`RawVectors`)."""
from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from typing import Callable, Literal, get_args

import numpy as np

BUILTIN = "glove-6b-50d"
VectorFormat = Literal["glove", "word2vec", "word2vec-bin", "fasttext", "gensim", "npz"]
FORMATS: tuple[str, ...] = get_args(VectorFormat)
TEXT_FORMATS = ("glove", "word2vec", "fasttext")
MAX_LISTED = 5  # line numbers (or words) listed per kind of problem


@dataclass
class LoadSummary:
    """What happened while reading a vectors file (problems are counted, never silently dropped)."""

    source: str
    format: str
    n_words: int = 0
    dim: int = 0
    seconds: float = 0.0
    malformed: int = 0                                   # lines skipped with --lenient
    malformed_lines: list[int] = field(default_factory=list)   # first few line numbers
    duplicates: int = 0                                  # later occurrences ignored (first wins)
    duplicate_words: list[str] = field(default_factory=list)
    replaced: int = 0                                    # lines with undecodable bytes replaced by U+FFFD
    replaced_lines: list[int] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = []
        if self.malformed:
            out.append(f"skipped {self.malformed} malformed line(s) (first at line(s) "
                       f"{', '.join(map(str, self.malformed_lines))})")
        if self.duplicates:
            out.append(f"ignored {self.duplicates} duplicate word(s), first occurrence kept "
                       f"(e.g. {', '.join(repr(w) for w in self.duplicate_words)})")
        if self.replaced:
            out.append(f"replaced undecodable (non-UTF-8) bytes on {self.replaced} line(s) "
                       f"(first at line(s) {', '.join(map(str, self.replaced_lines))})")
        return out

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class RawVectors:
    """What a reader returns: the words in file order, their vectors, the load summary, and for a file
    mapping (the built-in space) the mapping and a ``release`` that drops pages already read from
    resident memory."""

    words: list[str]
    matrix: np.ndarray
    summary: LoadSummary
    mapping: mmap.mmap | None = None
    release: Callable[[], None] | None = None
