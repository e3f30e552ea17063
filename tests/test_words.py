"""transferlab.words on the built-in GloVe 6B 50d and gensim's benchmark files, with parity
checks against gensim's KeyedVectors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from transferlab.cli import main
from transferlab.errors import BadInputError, DataError
from transferlab.words import WordVectors, cluster_words, evaluate_analogies, evaluate_similarity
from transferlab.words.search import add_queries

gensim = pytest.importorskip("gensim")
DATA = Path(gensim.__file__).parent / "test" / "test_data"


@pytest.fixture(scope="module")
def wv():
    return WordVectors.load()


@pytest.fixture(scope="module")
def kv(wv):
    from gensim.models import KeyedVectors

    k = KeyedVectors(wv.dim)
    k.add_vectors(wv.index_to_key, np.ascontiguousarray(wv.vectors, dtype=np.float32))
    return k


def test_builtin_space(wv):
    assert len(wv) == 400_000 and wv.dim == 50
    assert wv.index_to_key[:4] == ["the", ",", ".", "of"]  # frequency order: what restrict relies on
    assert wv.load_summary.seconds < 10
    np.testing.assert_allclose(wv["the"][:3], [0.418, 0.24968, -0.41242], rtol=1e-6)
    assert wv.normed.dtype == np.float32 and not wv.normed.flags.writeable


def test_docstring_examples_of_wordvectors():
    import doctest

    from transferlab.words import vectors

    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(vectors.WordVectors, "WordVectors", globs={"WordVectors": WordVectors}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries >= 6


def test_similarity_and_case_fallback(wv, kv):
    assert wv.similarity("cat", "dog") == pytest.approx(float(kv.similarity("cat", "dog")), abs=1e-6)
    assert wv.similarity("Cat", "DOG") == wv.similarity("cat", "dog")


def test_unknown_words_named_with_suggestions(wv):
    assert "elephnt" not in wv and "zzqxjv" not in wv
    with pytest.raises(BadInputError) as e:
        wv.similarity("elephnt", "zzqxjv")
    msg = str(e.value)
    assert "'elephnt' (did you mean: elephant" in msg and "'zzqxjv'" in msg


def test_analogy_king_queen_and_query_words_excluded(wv):
    assert wv.analogy("man", "king", "woman")[0][0] == "queen"
    # without exclusion, b - a + c is nearest to one of the query words for this triple
    rows = np.array([[wv.index("man"), wv.index("king"), wv.index("woman")]])
    raw = wv.search(add_queries(wv.normed, rows), 5)[0][0]
    top = [wv.index_to_key[i] for i in raw]
    assert "king" in top  # the lab's defect: a query word answering
    answers = [w for w, _ in wv.analogy("man", "king", "woman", topn=20)]
    assert not {"man", "king", "woman"} & set(answers)


def test_analogy_excludes_case_variants():
    rng = np.random.default_rng(0)
    words = ["a", "b", "c", "C", "d", "e"]
    vecs = rng.standard_normal((6, 8)).astype(np.float32)
    vecs[3] = vecs[2] * 1.01  # "C" == "c": would win for a:b :: c:?
    wv = WordVectors.from_arrays(words, vecs)
    assert {w for w, _ in wv.analogy("a", "b", "c", topn=3)}.isdisjoint({"a", "b", "c", "C"})


def test_most_similar_matches_brute_force_and_gensim(wv, kv):
    rng = np.random.default_rng(1)
    queries = [wv.index_to_key[i] for i in rng.choice(50_000, 40, replace=False)]
    got = wv.neighbours(queries, topn=10)
    for q, lst in zip(queries, got):
        ref = kv.most_similar(q, topn=10)
        assert [w for w, _ in lst] == [w for w, _ in ref], q
        np.testing.assert_allclose([s for _, s in lst], [s for _, s in ref], atol=1e-5)
    single = wv.most_similar(queries[0], topn=10)  # one query alone: same list (BLAS may round differently)
    assert [w for w, _ in single] == [w for w, _ in got[0]]
    np.testing.assert_allclose([s for _, s in single], [s for _, s in got[0]], atol=1e-6)


def test_search_restrict_vector_and_padding():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20_000, 16)).astype(np.float32)
    words = [f"w{i}" for i in range(len(X))]
    wv = WordVectors.from_arrays(words, X)
    q = rng.standard_normal(16).astype(np.float32)
    ref = np.argsort(-(wv.normed[:12_000] @ (q / np.linalg.norm(q))), kind="stable")[:7]
    got = wv.most_similar(q, topn=7, restrict=12_000)
    assert [w for w, _ in got] == [words[i] for i in ref]
    small = WordVectors.from_arrays(["a", "b", "c"], np.eye(3, dtype=np.float32))
    assert [w for w, _ in small.most_similar("a", topn=5)] == ["b", "c"]  # only 2 other words exist


def test_search_exact_ties_across_blocks():
    """Exact ties (entries of 0.5, four per row: unit length and exact dot products) across the
    head / block boundaries: the lower row wins, for k = 1 and for top k, with exclusions."""
    rng = np.random.default_rng(5)
    n, d = 30_000, 16
    X = np.zeros((n, d), dtype=np.float32)
    for i in range(n):
        X[i, rng.choice(d, 4, replace=False)] = 0.5
    wv = WordVectors.from_arrays([f"w{i}" for i in range(n)], X)
    Q = wv.normed[rng.choice(n, 300, replace=False)]
    exclude = [list(rng.choice(n, 3, replace=False)) for _ in range(len(Q))]
    S = Q.astype(np.float64) @ wv.normed.T.astype(np.float64)
    for q, e in enumerate(exclude):
        S[q, e] = -np.inf
    ref = np.argsort(-S, axis=1, kind="stable")   # best first, lower row first on a tie
    for k in (1, 10):
        idx, sc = wv.search(Q, k, exclude=exclude)
        np.testing.assert_array_equal(idx, ref[:, :k])
        np.testing.assert_array_equal(sc, np.take_along_axis(S, ref[:, :k], 1).astype(np.float32))


def test_search_threaded_chunks_and_array_exclusions(monkeypatch):
    """Many chunks of queries over small tiles (so worker threads and many tiles are used), with
    exclusions given as lists or as a 2-D array (padded with -1): same answers as brute force."""
    from transferlab.words import search

    monkeypatch.setattr(search, "_QUERY_CHUNK_BEST", 37)
    monkeypatch.setattr(search, "_QUERY_CHUNK", 23)
    monkeypatch.setattr(search, "_TILE", 2048)
    monkeypatch.setattr(search, "_MIN_TILE_ROWS", 16)
    monkeypatch.setattr(search, "_HEAD_ROWS", 64)
    rng = np.random.default_rng(7)
    X = np.zeros((5_000, 16), dtype=np.float32)   # unit rows, exact dot products: many exact ties
    for i in range(len(X)):
        X[i, rng.choice(16, 4, replace=False)] = 0.5
    wv = WordVectors.from_arrays([f"w{i}" for i in range(len(X))], X)
    Q = wv.normed[rng.choice(len(X), 200)]
    ex = rng.integers(-1, 4_000, size=(len(Q), 3))
    S = Q.astype(np.float64) @ wv.normed[:4_000].T.astype(np.float64)
    for q, e in enumerate(ex):
        S[q, e[e >= 0]] = -np.inf
    ref = np.argsort(-S, axis=1, kind="stable")
    for k in (1, 5):
        for exclude in (ex, [list(e[e >= 0]) for e in ex]):
            idx, _ = wv.search(Q, k, restrict=4_000, exclude=exclude)
            np.testing.assert_array_equal(idx, ref[:, :k])


def test_cosmul_matches_gensim(wv, kv):
    for a, b, c in [("man", "king", "woman"), ("paris", "france", "tokyo"), ("good", "better", "bad")]:
        ours = wv.analogy(a, b, c, topn=5, method="cosmul")
        ref = kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)
        assert [w for w, _ in ours] == [w for w, _ in ref]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in ref], rtol=1e-5)


def test_distances_and_nearest_within(wv):
    words = ["cat", "dog", "car", "truck"]
    d = wv.distances(words, "euclidean")
    X = wv[words].astype(np.float64)
    np.testing.assert_allclose(d, np.linalg.norm(X[:, None] - X[None], axis=2), atol=1e-5)
    c = wv.distances(words)
    assert c[0, 1] == pytest.approx(1 - wv.similarity("cat", "dog"), abs=1e-6)
    assert [(w, n) for w, n, _ in wv.nearest_within(words)] == [("cat", "dog"), ("dog", "cat"),
                                                                ("car", "truck"), ("truck", "car")]


def test_odd_one_out(wv, kv):
    words = ["breakfast", "lunch", "dinner", "car"]
    assert wv.odd_one_out(words)[0] == kv.doesnt_match(words) == "car"
    with pytest.raises(BadInputError):
        wv.odd_one_out(["a", "b"])


# ----------------------------------------------------------------------------- benchmarks
@pytest.mark.parametrize("name", ["wordsim353.tsv", "simlex999.txt"])
def test_similarity_benchmarks_match_gensim(wv, kv, name):
    r = wv.evaluate_similarity(DATA / name)                      # the method, as gensim's evaluate_word_pairs
    assert r == evaluate_similarity(wv, DATA / name)             # ... and the module function: the same
    pearson, spearman, oov = kv.evaluate_word_pairs(str(DATA / name))
    assert r["spearman"] == pytest.approx(spearman[0], abs=1e-12)
    assert r["pearson"] == pytest.approx(pearson[0], abs=1e-6)
    assert r["oov_ratio"] == pytest.approx(oov / 100)
    if name == "wordsim353.tsv":
        assert round(r["spearman"], 4) == 0.5033  # NOTES.md reference figure


def test_similarity_separators_and_comments(wv, tmp_path):
    lines = (DATA / "wordsim353.tsv").read_text().splitlines()
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    (tmp_path / "c.csv").write_text("# comment\n" + "\n".join(ln.replace("\t", ",") for ln in body) + "\n")
    (tmp_path / "s.txt").write_text("\n".join(ln.replace("\t", " ") for ln in body) + "\n\n")
    ref = evaluate_similarity(wv, DATA / "wordsim353.tsv")
    for f in ("c.csv", "s.txt"):
        r = evaluate_similarity(wv, tmp_path / f)
        assert r["spearman"] == ref["spearman"] and r["n_pairs"] == ref["n_pairs"]


def test_similarity_file_without_usable_pairs(wv, tmp_path):
    p = tmp_path / "p.txt"
    p.write_text("# only oov\nqqqzzz\txxyyzz\t3\nnot a line\n")
    with pytest.raises(DataError, match="not enough usable word pairs.*1 pair\\(s\\) out of vocabulary"):
        evaluate_similarity(wv, p)


def _sections(path: Path, names: set[str], out: Path) -> Path:
    keep, lines = False, []
    for ln in path.read_text().splitlines():
        if ln.startswith(": "):
            keep = ln[2:].strip() in names
        if keep:
            lines.append(ln)
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.mark.slow
def test_analogy_sections_match_gensim(wv, kv, tmp_path):
    f = _sections(DATA / "questions-words.txt", {"capital-common-countries", "family"}, tmp_path / "q.txt")
    r = wv.evaluate_analogies(f)                                 # the method, as gensim's evaluate_word_analogies
    same = evaluate_analogies(wv, f)
    assert {k: v for k, v in r.items() if k != "seconds"} == {k: v for k, v in same.items() if k != "seconds"}
    score, sections = kv.evaluate_word_analogies(str(f))
    assert r["accuracy"] == score
    assert r["n_questions"] == len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    for s in sections[:-1]:
        n = len(s["correct"]) + len(s["incorrect"])
        assert r["sections"][s["section"]] == len(s["correct"]) / n


@pytest.mark.slow
def test_full_analogy_file_reference_figure(wv):
    r = evaluate_analogies(wv, DATA / "questions-words.txt")
    assert r["n_questions"] == 19_486
    assert round(r["accuracy"], 4) == 0.4637  # NOTES.md: gensim 4.4 on the same vectors


@pytest.mark.slow
def test_evaluate_methods_on_a_small_file_match_gensim(wv, kv, tmp_path):
    """Not slow: one small section, 3CosAdd and 3CosMul through the methods, against gensim."""
    f = _sections(DATA / "questions-words.txt", {"family"}, tmp_path / "q.txt")
    r = wv.evaluate_analogies(f)
    score, sections = kv.evaluate_word_analogies(str(f))
    assert r["accuracy"] == score and r["n_questions"] == len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    m = wv.evaluate_analogies(f, method="cosmul", restrict=0)
    assert m["method"] == "cosmul" and m["restrict"] == 0 and 0 < m["accuracy"] <= 1
    with pytest.raises(BadInputError, match="unknown analogy method 'mul'"):
        wv.evaluate_analogies(f, method="mul")


def test_analogy_oov_questions_skipped_and_counted(wv, tmp_path):
    p = tmp_path / "q.txt"
    p.write_text(": s1\nman king woman queen\nMAN KING WOMAN QUEEN\nqqqzzz king woman queen\n"
                 ": s2\nparis france tokyo japan\nbad line\n: empty\n")
    r = evaluate_analogies(wv, p)
    assert (r["n_questions"], r["n_skipped"], r["n_invalid"], r["n_correct"]) == (3, 1, 1, 3)
    assert r["sections"] == {"s1": 1.0, "s2": 1.0, "empty": None}


def test_analogy_file_without_usable_question(wv, tmp_path):
    p = tmp_path / "q.txt"
    p.write_text(": oov\nqqqzzz xxyyzz aabbq ccddq\n")
    with pytest.raises(DataError, match="no usable analogy question.*all 1 question"):
        evaluate_analogies(wv, p)
    p.write_text(": empty\nonly three words\n")
    with pytest.raises(DataError, match="no usable analogy question"):
        evaluate_analogies(wv, p)
    p.write_text("a b c d\n")
    with pytest.raises(DataError, match="line 1: a question before any"):
        evaluate_analogies(wv, p)


# ----------------------------------------------------------------------------- clustering
def test_cluster_with_categories(wv, tmp_path):
    words = ["dog", "cat", "horse", "cow", "car", "truck", "bus", "train", "france", "germany", "italy", "spain"]
    cats = ["animal"] * 4 + ["vehicle"] * 4 + ["country"] * 4
    r = cluster_words(wv, words, categories=cats)
    assert r["k"] == 3 and r["purity"] == 1.0 and r["adjusted_rand"] == 1.0
    assert set(r["silhouette_by_k"]) == set(range(2, 12))
    a = cluster_words(wv, words, k=3, method="agglomerative", projection="tsne", categories=cats)
    assert a["adjusted_rand"] > 0.5 and np.asarray(a["coords"]).shape == (12, 2)
    with pytest.raises(BadInputError):
        cluster_words(wv, ["dog", "cat"])


def test_cluster_method_on_the_object(wv):
    words = ["dog", "cat", "horse", "car", "truck", "bus"]
    r = wv.cluster(words, k=2, categories=["a"] * 3 + ["v"] * 3)
    assert r == cluster_words(wv, words, k=2, categories=["a"] * 3 + ["v"] * 3)
    assert r["purity"] == 1.0


def test_top_k_keyword_and_gensim_topn_alias(wv):
    assert wv.most_similar("frog", top_k=3) == wv.most_similar("frog", topn=3) == wv.most_similar("frog", 3)
    assert [w for w, _ in wv.most_similar("frog", top_k=3)] == ["snake", "ape", "toad"]
    assert len(wv.analogy("man", "king", "woman", top_k=4)) == len(wv.analogy("man", "king", "woman", topn=4)) == 4
    assert wv.neighbours(["paris"], top_k=2) == wv.neighbours(["paris"], topn=2)


@pytest.mark.parametrize("call, message", [
    (lambda wv: wv.most_similar("frog", top_k=0), "top_k (--top-k) must be an integer >= 1, got 0"),
    (lambda wv: wv.most_similar("frog", topn=0), "top_k (--top-k) must be an integer >= 1, got 0"),
    (lambda wv: wv.analogy("man", "king", "woman", top_k=-2), "top_k (--top-k) must be an integer >= 1, got -2"),
    (lambda wv: wv.neighbours(["cat"], restrict=-1), "restrict (--restrict) must be an integer >= 0, got -1"),
    (lambda wv: wv.cluster(["dog", "cat", "car"], k=0), "k (-k) must be an integer >= 1, got 0"),
])
def test_python_arguments_checked_by_the_config(wv, call, message):
    from transferlab.schema import ConfigError

    with pytest.raises(ConfigError) as e:
        call(wv)
    assert str(e.value) == message


def test_search_index_public_interface(wv):
    from transferlab.words.search import SearchIndex, add_queries, analogy_method, cosmul

    index = SearchIndex(wv.normed)
    assert len(index) == len(wv) and not index.normed.flags.writeable
    rows = np.array([[wv.index("man"), wv.index("king"), wv.index("woman")]])
    idx, sc = index.search(add_queries(index.normed, rows), 3, exclude=rows)
    assert wv.index_to_key[idx[0, 0]] == "queen"
    np.testing.assert_array_equal(index.analogies(rows, 3, exclude=rows)[0], idx)
    np.testing.assert_array_equal(index.analogies(rows, 3, "3cosmul", exclude=rows)[0],
                                  cosmul(index.normed, rows, 3, exclude=rows)[0])
    assert analogy_method("3CosAdd") == "add"
    with pytest.raises(ValueError, match="float32"):
        SearchIndex(np.zeros((3, 2)))


# ----------------------------------------------------------------------------- CLI
def _json(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON object, nothing else


def test_cli_json_outputs(capsys, tmp_path):
    assert _json(capsys, ["words", "similarity", "cat", "dog", "--json"])["cosine_similarity"] > 0.9
    r = _json(capsys, ["words", "analogy", "man", "king", "woman", "--json", "--top-k", "3"])
    assert r["answers"][0]["word"] == "queen" and len(r["answers"]) == 3
    r = _json(capsys, ["words", "distances", "cat", "dog", "car", "--metric", "euclidean", "--json"])
    assert np.asarray(r["matrix"]).shape == (3, 3) and r["nearest"][0]["nearest"] == "dog"
    r = _json(capsys, ["words", "similar", "frog", "--top-k", "3", "--json"])
    assert [x["word"] for x in r["similar"]] == ["snake", "ape", "toad"]
    r = _json(capsys, ["words", "neighbours", "paris", "london", "--top-k", "2", "--restrict", "50000", "--json"])
    assert set(r["neighbours"]) == {"paris", "london"}
    r = _json(capsys, ["words", "odd-one-out", "apple", "banana", "cherry", "tractor", "--json"])
    assert r["odd_one_out"] == "tractor"
    r = _json(capsys, ["words", "evaluate", "--similarity", str(DATA / "wordsim353.tsv"), "--json"])
    assert round(r["spearman"], 4) == 0.5033 and {"pearson", "oov_ratio"} <= set(r)
    r = _json(capsys, ["words", "info", "--json"])
    assert r["n_words"] == 400_000 and r["dim"] == 50


def test_cli_evaluate_analogies_json(capsys, tmp_path):
    f = _sections(DATA / "questions-words.txt", {"capital-common-countries"}, tmp_path / "q.txt")
    r = _json(capsys, ["words", "evaluate", "--analogies", str(f), "--json"])
    assert {"accuracy", "n_questions", "n_skipped", "sections"} <= set(r)
    assert list(r["sections"]) == ["capital-common-countries"] and r["n_questions"] == 506


def test_cli_unknown_word_is_one_clear_line(capsys):
    assert main(["words", "analogy", "man", "kingg", "woman"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and "'kingg'" in lines[0] and "did you mean: king" in lines[0]


def test_cli_cluster_file_png_and_export(capsys, tmp_path):
    f = tmp_path / "w.csv"
    f.write_text("# word,category\ndog,animal\ncat,animal\nhorse,animal\ncar,vehicle\ntruck,vehicle\nbus,vehicle\n")
    folder = tmp_path / "clusters"
    r = _json(capsys, ["words", "cluster", "--file", str(f), "-k", "2", "--out", str(folder), "--json"])
    png = folder / "clusters.png"
    assert png.stat().st_size > 1000 and r["png"] == str(png)
    assert r["purity"] == 1.0 and r["adjusted_rand"] == 1.0
    assert main(["words", "cluster", "--most-frequent", "30", "--out", str(tmp_path / "top")]) == 0
    assert "map:" in capsys.readouterr().out
    assert main(["words", "export", "--out", str(tmp_path / "small"), "--limit", "100"]) == 0
    out = tmp_path / "small" / "vectors.txt"
    assert out.read_text().splitlines()[0] == "100 50"
    back = WordVectors.load(out)
    np.testing.assert_array_equal(back.vectors, WordVectors.load()[back.index_to_key])
    assert main(["words", "export-projector", "--out", str(tmp_path / "proj"), "--file", str(f)]) == 0
    assert (tmp_path / "proj" / "metadata.tsv").read_text().splitlines()[1] == "dog\tanimal"


def test_cli_bad_options(capsys, tmp_path):
    assert main(["words", "evaluate"]) == 2
    assert main(["words", "similar"]) == 2
    assert main(["words", "cluster"]) == 2
    assert main(["words", "similar", "cat", "--top-k", "0"]) == 2
    assert main(["words", "info", "--vectors", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err
