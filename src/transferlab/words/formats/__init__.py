"""Word-vector files, below ``WordVectors``: readers return plain data, writers take words and a matrix.

- ``base``: the format names (``FORMATS``, from the ``VectorFormat`` Literal), ``BUILTIN``,
  :class:`LoadSummary` (what a load counted: malformed lines, duplicates, replaced bytes) and
  :class:`RawVectors` (what a reader returns);
- ``readers``: :func:`read_vectors` (the built-in space or a file: GloVe / word2vec / fastText text,
  word2vec binary, gensim KeyedVectors files, ``.npz`` arrays), ``read_file``;
- ``builtin``: the built-in GloVe 6B 50d (matrix mapped from disk, vocabulary cached as text);
- ``detect``: :func:`detect_format`, and binary data given as text named as such;
- ``writers``: :func:`write_word2vec` (word2vec text), :func:`write_projector` (TensorBoard TSV files).

Nothing here imports from the rest of ``transferlab.words``.
"""
from transferlab.words.formats.base import BUILTIN, FORMATS, TEXT_FORMATS, LoadSummary, RawVectors, VectorFormat
from transferlab.words.formats.builtin import read_builtin, vocab_cache_path, write_vocab_cache
from transferlab.words.formats.detect import binary_kind, detect_format, not_text_message
from transferlab.words.formats.readers import read_file, read_vectors
from transferlab.words.formats.writers import write_projector, write_word2vec

__all__ = [
    "BUILTIN", "FORMATS", "TEXT_FORMATS", "VectorFormat", "LoadSummary", "RawVectors",
    "read_vectors", "read_file", "read_builtin", "vocab_cache_path", "write_vocab_cache",
    "detect_format", "binary_kind", "not_text_message", "write_word2vec", "write_projector",
]
