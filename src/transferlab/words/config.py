"""The typed configs of the words capability: one per ``transferlab words`` sub-command.

Each sub-command's options are declared here once (type, default, range, help, spelling); the
command-line parsers are built from these classes (``words/cli.py``), and the Python API's
arguments are checked against them (``words/validate.py``), so ``--top-k 0`` and ``top_k=0`` get
the same one-line message::

    top_k (--top-k) must be an integer >= 1, got 0
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import field_validator, model_validator

from transferlab.schema import Config, option, quiet_option, top_k_option
from transferlab.words.formats import BUILTIN, VectorFormat
from transferlab.words.space import DEFAULT_RESTRICT

FormatName = Literal["auto", VectorFormat]  # the readers' formats, or detected from the content

# file names inside the run folders the writing sub-commands make
CLUSTER_PNG, CLUSTER_JSON = "clusters.png", "clusters.json"
EXPORT_TXT = "vectors.txt"
REPORT_JSON = "words-report.json"
_FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg", ".eps")


def _top_k(default: int) -> Any:
    return top_k_option(default, "answers per query", hidden=("-n", "--topn"))


def _overwrite() -> Any:
    return option(False, "replace the run already in --out, removing its files first (default: refuse a folder "
                         "that holds another run)", runtime=True)


# ---------------------------------------------------------------------------- shared options
class QuietOption(Config):
    """How much goes to stderr (``--json`` is a door of the command line, not a setting)."""

    quiet: bool = quiet_option("nothing on stderr but errors: no warnings (default: warnings shown)")


class VectorOptions(QuietOption):
    """Which vectors, read how (and ``--quiet``, which every sub-command has)."""

    vectors: str = option(BUILTIN, f"a vectors file, or {BUILTIN} (GloVe 6B 50d, built in)", group="vectors",
                          metavar="PATH")
    format: FormatName | None = option(None, "file format", group="vectors", default_text="detected from the content")
    lenient: bool = option(False, "skip malformed lines, counting and reporting them (default: stop at the first, "
                                  "naming its line)", group="vectors")


class SearchOptions(VectorOptions):
    """... and which of their words may answer (the sub-commands that search the vocabulary)."""

    restrict: int | None = option(None, "only the N most frequent words answer (0 = all)", ge=0, group="vectors",
                                  metavar="N", default_text="all words")


class TopKOption(Config):
    """How many answers per query."""

    top_k: int = _top_k(10)


class ClusterOptions(Config):
    """How words are clustered and mapped."""

    k: int | None = option(None, "number of clusters", ge=1, flag="-k", metavar="K",
                           default_text="chosen by silhouette in 2..12")
    method: Literal["kmeans", "agglomerative"] = option("kmeans", "clustering: k-means or agglomerative (cosine, "
                                                                  "average linkage)")
    projection: Literal["pca", "tsne"] = option("pca", "2-D map: PCA or t-SNE (cosine)")
    seed: int = option(0, "random seed of k-means and of the map", ge=0, le=2**32 - 1)


# ---------------------------------------------------------------------------- one per sub-command
class SimilarityConfig(VectorOptions):
    """``words similarity A B``: cosine similarity of two words."""

    command: ClassVar[str] = "words similarity"
    a: str = option(..., "a word", positional=True)
    b: str = option(..., "another word", positional=True)


class DistancesConfig(VectorOptions):
    """``words distances W1 W2 ...``: the distance matrix, and each word's nearest within the list."""

    command: ClassVar[str] = "words distances"
    words: list[str] = option(..., "the words (at least two different ones)", positional=True, nargs="+")
    metric: Literal["cosine", "euclidean"] = option("cosine", "cosine (1 - cosine similarity) or euclidean")

    @field_validator("words")
    @classmethod
    def _two(cls, value):
        if len(set(value)) < 2:
            raise ValueError("needs at least two different words")
        return value


class SimilarConfig(SearchOptions):
    """``words similar WORD`` / ``--vector``: the nearest words."""

    command: ClassVar[str] = "words similar"
    word: str | None = option(None, "the query word", positional=True, nargs="?",
                              default_text="none, with --vector")
    vector: list[float] | None = option(None, "a query vector: its values separated by commas", metavar="V1,V2,...")
    top_k: int = _top_k(10)

    @field_validator("vector", mode="before")
    @classmethod
    def _numbers(cls, value):
        if isinstance(value, str):
            try:
                return [float(x) for x in value.replace(",", " ").split()]
            except ValueError:
                raise ValueError("must be numbers separated by commas") from None
        return value

    @model_validator(mode="after")
    def _one_query(self):
        if (self.word is None) == (self.vector is None):
            raise ValueError("give either a WORD or --vector v1,v2,...")
        return self


class AnalogyConfig(SearchOptions):
    """``words analogy A B C``: A is to B as C is to ?"""

    command: ClassVar[str] = "words analogy"
    a: str = option(..., "A (A is to B ...)", positional=True)
    b: str = option(..., "B", positional=True)
    c: str = option(..., "C (... as C is to ?)", positional=True)
    top_k: int = _top_k(5)
    method: Literal["add", "cosmul"] = option("add", "3CosAdd (add: b - a + c) or 3CosMul (cosmul, Levy & Goldberg)")


class OddOneOutConfig(VectorOptions):
    """``words odd-one-out W1 W2 W3 ...``: the word that fits least with the others."""

    command: ClassVar[str] = "words odd-one-out"
    words: list[str] = option(..., "the words (at least three)", positional=True, nargs="+")

    @field_validator("words")
    @classmethod
    def _three(cls, value):
        if len(value) < 3:
            raise ValueError("needs at least three words")
        return value


class NeighboursConfig(SearchOptions):
    """``words neighbours W1 W2 ... [--file F]``: the nearest words of many words, in one batch."""

    command: ClassVar[str] = "words neighbours"
    words: list[str] = option([], "the query words", positional=True, nargs="*", default_text="none, with --file")
    file: str | None = option(None, "more query words, one per line ('word' or 'word,category'; # comments)",
                              metavar="FILE")
    top_k: int = _top_k(10)

    @model_validator(mode="after")
    def _some_words(self):
        if not self.words and not self.file:
            raise ValueError("give words as arguments or with --file")
        return self


class ClusterWords(Config):
    """Which words are clustered: arguments, a file, or the most frequent words."""

    words: list[str] = option([], "the words to cluster", positional=True, nargs="*",
                              default_text="none, with --file or --most-frequent")
    file: str | None = option(None, "the words to cluster: one 'word' or 'word,category' per line (# comments)",
                              metavar="FILE")
    most_frequent: int | None = option(None, "cluster the N most frequent words (instead of WORDS or --file)", ge=3,
                                       hidden=("--top",), metavar="N", default_text="none")


def _one_source(cfg):
    """The words to cluster come from exactly one place."""
    if cfg.words and cfg.file:
        raise ValueError("give words either as arguments or with --file, not both")
    if cfg.most_frequent is not None and (cfg.words or cfg.file):
        raise ValueError("--most-frequent clusters the most frequent words: give no other words")
    if not cfg.words and not cfg.file and cfg.most_frequent is None:
        raise ValueError("give words as arguments, with --file, or --most-frequent N")
    return cfg


class ClusterConfig(ClusterOptions, ClusterWords, VectorOptions):
    """``words cluster``: clusters of words, a 2-D map, and purity / adjusted Rand index with categories."""

    command: ClassVar[str] = "words cluster"
    out: str = option("runs/words-cluster", f"output folder: {CLUSTER_PNG} (the map), {CLUSTER_JSON} (the result) "
                                            "and run.json", metavar="DIR")
    overwrite: bool = _overwrite()

    @field_validator("out")
    @classmethod
    def _folder(cls, value):
        if Path(value).suffix.lower() in _FIGURE_SUFFIXES:
            raise ValueError(f"must be a folder ({CLUSTER_PNG} and {CLUSTER_JSON} are written in it), not an "
                             "image file name")
        return value

    @model_validator(mode="after")
    def _one_source(self):
        return _one_source(self)


class EvaluateConfig(SearchOptions):
    """``words evaluate``: analogy accuracy and/or word-pair similarity correlation, as gensim computes them."""

    command: ClassVar[str] = "words evaluate"
    analogies: str | None = option(None, "an analogy file: ': section' lines, then 'a b c d' (a:b :: c:d)",
                                   metavar="FILE")
    similarity: str | None = option(None, "a word-pair file: 'word1 word2 score' lines (tab, space or comma; "
                                          "# comments)", metavar="FILE")
    case_sensitive: bool = option(False, "match words exactly (default: ignore case, the most frequent case "
                                         "variant answering, as gensim)")
    method: Literal["add", "cosmul"] = option("add", "analogies by 3CosAdd (add) or 3CosMul (cosmul)")
    restrict: int | None = option(DEFAULT_RESTRICT, "only the N most frequent words count (0 = all; the default is "
                                                    "gensim's)", ge=0, group="vectors", metavar="N")

    @model_validator(mode="after")
    def _some_benchmark(self):
        if not self.analogies and not self.similarity:
            raise ValueError("give --analogies FILE and/or --similarity FILE")
        return self


class ExportConfig(VectorOptions):
    """``words export``: the vectors in word2vec text format."""

    command: ClassVar[str] = "words export"
    out: str = option("runs/words-export", f"output folder: {EXPORT_TXT} and run.json", metavar="DIR")
    header: bool = option(True, "a 'COUNT DIMENSIONS' first line, as word2vec", negate="--no-header",
                          negate_help="GloVe style: no 'COUNT DIMENSIONS' first line")
    limit: int | None = option(None, "only the N most frequent words (0 = all)", ge=0, metavar="N",
                               default_text="all words")
    overwrite: bool = _overwrite()


class ExportProjectorConfig(VectorOptions):
    """``words export-projector``: vectors.tsv + metadata.tsv for the TensorBoard embedding projector."""

    command: ClassVar[str] = "words export-projector"
    out: str = option("runs/words-projector", "output folder: vectors.tsv, metadata.tsv and run.json", metavar="DIR")
    limit: int | None = option(10000, "the N most frequent words (0 = all)", ge=0, metavar="N")
    file: str | None = option(None, "export these words instead: 'word' or 'word,category' lines (the categories "
                                    "become a metadata column)", metavar="FILE")
    overwrite: bool = _overwrite()


class InfoConfig(VectorOptions):
    """``words info``: size, dimensions and load report of the vectors."""

    command: ClassVar[str] = "words info"


class WordsReportConfig(ClusterOptions, ClusterWords, SearchOptions):
    """``words report``: one self-contained report.html: the cluster map, the clusters as a table, the
    neighbours of query words and the answers of analogies."""

    command: ClassVar[str] = "words report"
    query: list[str] = option([], "query words whose nearest words the report lists", nargs="+", metavar="WORD",
                              default_text="the first 6 clustered words")
    analogy: list[str] = option([], "analogies A:B:C (A is to B as C is to ?), answered by 3CosAdd", nargs="+",
                                metavar="A:B:C", default_text="none")
    top_k: int = _top_k(8)
    out: str = option("runs/words-report", f"output folder: report.html, {REPORT_JSON} (what it shows) and run.json",
                      metavar="DIR")
    overwrite: bool = _overwrite()

    @field_validator("analogy")
    @classmethod
    def _triples(cls, value):
        bad = [a for a in value if len([w for w in a.split(":") if w.strip()]) != 3]
        if bad:
            raise ValueError("each analogy must be A:B:C (A is to B as C is to ?)")
        return value

    @model_validator(mode="after")
    def _one_source(self):
        return _one_source(self)


CONFIGS: dict[str, type[Config]] = {
    "similarity": SimilarityConfig, "distances": DistancesConfig, "similar": SimilarConfig,
    "analogy": AnalogyConfig, "odd-one-out": OddOneOutConfig, "neighbours": NeighboursConfig,
    "cluster": ClusterConfig, "evaluate": EvaluateConfig, "export": ExportConfig,
    "export-projector": ExportProjectorConfig, "info": InfoConfig, "report": WordsReportConfig,
}

# the option mixins with no rule across fields: where a single value is checked for the Python API
_SINGLE_FIELD = (TopKOption, SearchOptions, ClusterOptions)


def check(name: str, value: Any) -> Any:
    """``value`` validated as the option ``name`` (``top_k``, ``restrict``, ``k`` ...), or ConfigError
    with the one-line message the command line gives."""
    for cls in _SINGLE_FIELD:
        if name in cls.model_fields:
            return getattr(cls(**{name: value}), name)
    raise KeyError(f"no words option named {name!r}")
