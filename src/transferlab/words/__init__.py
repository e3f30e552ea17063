"""Word-embedding spaces: load vectors, distances, most similar, analogies, clustering, benchmarks.

>>> from transferlab.words import WordVectors
>>> wv = WordVectors.load()                 # built-in GloVe 6B 50d (offline)
>>> wv.analogy("man", "king", "woman")      # [('queen', 0.85...)]
"""
from transferlab.words.cluster import cluster_words, plot_clusters, read_word_list
from transferlab.words.evaluate import evaluate_analogies, evaluate_similarity
from transferlab.words.vectors import BUILTIN, FORMATS, LoadReport, WordVectors

__all__ = [
    "BUILTIN", "FORMATS", "LoadReport", "WordVectors",
    "evaluate_analogies", "evaluate_similarity",
    "cluster_words", "plot_clusters", "read_word_list",
]
