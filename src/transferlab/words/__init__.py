"""Word-embedding spaces: load vectors, distances, most similar, analogies, clustering, benchmarks.

>>> from transferlab.words import WordVectors
>>> wv = WordVectors.load()                 # built-in GloVe 6B 50d (offline)
>>> wv.analogy("man", "king", "woman")      # [('queen', 0.85...)]

What lives here, top floor first (each module imports only from the floors below it):

- ``cli`` (``transferlab words``) and ``demo``: the doors;
- ``report``: the word-space page (``transferlab words report``; ``transferlab report`` redraws it);
- ``vectors``: ``WordVectors``, the object a user holds and queries;
- ``evaluate`` (the gensim-comparable benchmarks) and ``cluster`` (clusters and their 2-D map): they
  take any ``space.VectorSpace``, so they need not import ``vectors``;
- ``validate`` (the Python API's argument checks) over ``config`` (the typed options of every
  sub-command);
- ``space`` (the ``VectorSpace`` protocol, ``DEFAULT_RESTRICT``), ``search`` (the search engine:
  ``SearchIndex``) and ``formats`` (the file readers and writers), at the bottom.
"""
from transferlab.words.cluster import cluster_words, plot_clusters, read_word_list
from transferlab.words.evaluate import evaluate_analogies, evaluate_similarity
from transferlab.words.search import SearchIndex
from transferlab.words.vectors import BUILTIN, FORMATS, LoadSummary, WordVectors

__all__ = [
    "BUILTIN", "FORMATS", "LoadSummary", "WordVectors", "SearchIndex",
    "evaluate_analogies", "evaluate_similarity",
    "cluster_words", "plot_clusters", "read_word_list",
]
