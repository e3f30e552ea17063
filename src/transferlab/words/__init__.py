"""Word-embedding spaces: load vectors, distances, most similar, analogies, clustering, benchmarks.

>>> from transferlab.words import WordVectors
>>> wv = WordVectors.load()                 # built-in GloVe 6B 50d (offline)
>>> wv.analogy("man", "king", "woman")      # [('queen', 0.85...)]

Modules: ``vectors`` (``WordVectors``, the object a user holds), ``search`` (the search engine
below it: ``SearchIndex``), ``formats`` (file readers and writers), ``evaluate`` (benchmarks),
``cluster``, ``config`` (the typed options of ``transferlab words``), ``cli``.
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
