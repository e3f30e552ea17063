"""Loading word vectors: every format, and every kind of bad input (small handmade files)."""
from __future__ import annotations

import numpy as np
import pytest

from transferlab.cli import main
from transferlab.errors import BadInputError, DataError
from transferlab.words import WordVectors
from transferlab.words.formats import detect_format

WORDS = ["the", "cat", "dog", "car", "truck"]
VECS = np.array([[0.1, 0.2, 0.3], [1.0, 0.5, -0.25], [0.9, 0.6, -0.2], [-1.0, 0.1, 0.7], [-0.8, 0.2, 0.9]],
                dtype=np.float32)


def _glove(path, words=WORDS, vecs=VECS, header=False, extra=b""):
    lines = [f"{w} " + " ".join(str(x) for x in v) for w, v in zip(words, vecs)]
    text = (f"{len(words)} {vecs.shape[1]}\n" if header else "") + "\n".join(lines) + "\n"
    path.write_bytes(text.encode("utf-8") + extra)
    return path


def _check(wv, fmt):
    assert wv.load_summary.format == fmt
    assert wv.index_to_key == WORDS and len(wv) == 5 and wv.dim == 3
    np.testing.assert_array_equal(wv[WORDS], VECS)
    assert "cat" in wv and "horse" not in wv
    np.testing.assert_allclose(np.linalg.norm(wv.normed, axis=1), 1.0, rtol=1e-6)


def test_glove_text_detected(tmp_path):
    p = _glove(tmp_path / "v.txt")
    assert detect_format(p) == "glove"
    _check(WordVectors.load(p), "glove")


def test_word2vec_text_with_header(tmp_path):
    p = _glove(tmp_path / "v.txt", header=True)
    assert detect_format(p) == "word2vec"
    _check(WordVectors.load(p), "word2vec")


def test_fasttext_vec(tmp_path):
    p = _glove(tmp_path / "wiki.vec", header=True)
    _check(WordVectors.load(p), "fasttext")


def test_word2vec_binary_written_by_gensim(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(3)
    kv.add_vectors(WORDS, VECS)
    p = tmp_path / "v.bin"
    kv.save_word2vec_format(str(p), binary=True)
    assert detect_format(p) == "word2vec-bin"
    _check(WordVectors.load(p), "word2vec-bin")


def test_gensim_keyedvectors_save(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(3)
    kv.add_vectors(WORDS, VECS)
    p = tmp_path / "v.kv"
    kv.save(str(p))
    assert detect_format(p) == "gensim"
    _check(WordVectors.load(p), "gensim")


def test_npz_and_arrays(tmp_path):
    p = tmp_path / "v.npz"
    np.savez(p, words=np.array(WORDS), vectors=VECS)
    _check(WordVectors.load(p), "npz")
    wv = WordVectors.from_arrays(WORDS, VECS)
    assert wv.index_to_key == WORDS
    np.testing.assert_array_equal(wv["dog"], VECS[2])


def test_explicit_format_overrides_detection(tmp_path):
    p = _glove(tmp_path / "v.txt", header=True)
    with pytest.raises(DataError, match="line 2: expected a word and 1 values"):  # header read as a vector
        WordVectors.load(p, format="glove")


def test_export_word2vec_round_trip(tmp_path):
    wv = WordVectors.load(_glove(tmp_path / "v.txt"))
    out = wv.save_word2vec(tmp_path / "out.txt")
    back = WordVectors.load(out)
    assert back.load_summary.format == "word2vec"
    assert back.index_to_key == WORDS
    np.testing.assert_array_equal(back.vectors, VECS)  # exact: shortest float32 round trip
    g = WordVectors.load(wv.save_word2vec(tmp_path / "g.txt", header=False))
    assert g.load_summary.format == "glove"


def test_export_projector(tmp_path):
    wv = WordVectors.load(_glove(tmp_path / "v.txt"))
    v, m = wv.save_projector(tmp_path / "proj", limit=3)
    rows = v.read_text().splitlines()
    assert len(rows) == 3 and all(len(r.split("\t")) == 3 for r in rows)
    assert m.read_text().splitlines() == WORDS[:3]
    v, m = wv.save_projector(tmp_path / "proj2", words=["cat", "car"], labels={"cat": "animal", "car": "vehicle"})
    assert m.read_text().splitlines() == ["word\tcategory", "cat\tanimal", "car\tvehicle"]


# ----------------------------------------------------------------------------- bad input
def test_malformed_line_reports_line_number(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("a 1 2 3\nb 4 5 6\nc 7 8\nd 1 1 1\ne x 1 1\n")
    with pytest.raises(DataError, match=r"line 3: expected a word and 3 values, found 2"):
        WordVectors.load(p)
    wv = WordVectors.load(p, lenient=True)
    assert wv.index_to_key == ["a", "b", "d"]
    assert wv.load_summary.malformed == 2 and wv.load_summary.malformed_lines == [3, 5]
    assert "skipped 2 malformed" in wv.load_summary.warnings()[0]


def test_malformed_cli_exit_code_and_lenient(tmp_path, capsys):
    p = tmp_path / "v.txt"
    p.write_text("cat 1 0\ndog 0.9 0.1\nbad 1\ncar 0 1\n")
    assert main(["words", "similarity", "cat", "dog", "--vectors", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 3" in err[0] and "--lenient" in err[0]
    assert main(["words", "similarity", "cat", "dog", "--vectors", str(p), "--lenient", "--json"]) == 0
    cap = capsys.readouterr()
    import json

    assert json.loads(cap.out)["cosine_similarity"] == pytest.approx(0.9 / np.hypot(0.9, 0.1), rel=1e-6)
    assert "skipped 1 malformed line(s) (first at line(s) 3)" in cap.err


def test_duplicates_first_wins_and_reported(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("a 1 0\nb 0 1\na 5 5\nb 2 2\nc 1 1\n")
    wv = WordVectors.load(p)
    assert wv.index_to_key == ["a", "b", "c"]
    np.testing.assert_array_equal(wv["a"], [1, 0])
    assert wv.load_summary.duplicates == 2 and wv.load_summary.duplicate_words == ["a", "b"]
    assert "ignored 2 duplicate" in " ".join(wv.load_summary.warnings())


def test_non_utf8_bytes_replaced_and_reported(tmp_path):
    p = tmp_path / "v.txt"
    p.write_bytes(b"cat 1 0\ncaf\xe9 0 1\nna\xefve 1 1\n")
    wv = WordVectors.load(p)
    assert wv.index_to_key == ["cat", "caf\ufffd", "na\ufffdve"]
    assert wv.load_summary.replaced == 2 and wv.load_summary.replaced_lines == [2, 3]
    assert "non-UTF-8" in " ".join(wv.load_summary.warnings())


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path, content):
    p = tmp_path / "v.txt"
    p.write_bytes(content)
    with pytest.raises(DataError, match="empty"):
        WordVectors.load(p)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        WordVectors.load(tmp_path / "nope.txt")
    p = _glove(tmp_path / "v.txt")
    with pytest.raises(BadInputError, match="unknown vectors format"):
        WordVectors.load(p, format="xml")


def test_header_count_mismatch(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("3 2\na 1 0\nb 0 1\n")
    with pytest.raises(DataError, match="declares 3 vectors but the file has 2"):
        WordVectors.load(p)
    assert len(WordVectors.load(p, lenient=True)) == 2


def test_truncated_binary(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(3)
    kv.add_vectors(WORDS, VECS)
    p = tmp_path / "v.bin"
    kv.save_word2vec_format(str(p), binary=True)
    p.write_bytes(p.read_bytes()[:-7])
    with pytest.raises(DataError, match="ends early.*found 4"):
        WordVectors.load(p)
    assert len(WordVectors.load(p, lenient=True)) == 4


def test_non_finite_values_rejected(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("a 1 0\nb nan 1\n")
    with pytest.raises(DataError, match="non-finite"):
        WordVectors.load(p)


def test_zero_vector_is_harmless(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("a 1 0\nb 0 0\nc 0.9 0.1\n")
    wv = WordVectors.load(p)
    assert wv.similarity("a", "b") == 0.0
    assert wv.most_similar("a", topn=1)[0][0] == "c"


# ----------------------------------------------------------------------------- binary files given as text
def _binary_files(tmp_path) -> dict[str, bytes]:
    import gzip
    import io
    import zipfile

    from gensim.models import KeyedVectors

    rng = np.random.default_rng(3)
    kv = KeyedVectors(3)
    kv.add_vectors(WORDS, VECS)
    kv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    w2v = (tmp_path / "v.bin").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", "cat 1 0 0\n")
    return {
        "random": bytes([0x41]) + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "png": b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, 512, dtype=np.uint8).tobytes(),
        "zip": buf.getvalue(),
        "gzip": gzip.compress(_glove(tmp_path / "g.txt").read_bytes()),
        "w2v-bin-without-header": w2v[w2v.index(b"\n") + 1:],
        "float32-rows": rng.standard_normal((400, 50)).astype(np.float32).tobytes(),
    }


@pytest.mark.parametrize("kind", ["random", "png", "zip", "gzip", "w2v-bin-without-header", "float32-rows"])
def test_binary_file_is_named_not_a_text_format(tmp_path, kind):
    p = tmp_path / "vectors.txt"
    p.write_bytes(_binary_files(tmp_path)[kind])
    with pytest.raises(DataError) as e:
        WordVectors.load(p)
    msg = str(e.value)
    assert "is not a text vectors file" in msg and "line 1" not in msg, msg
    assert "--format" in msg and all(f in msg for f in ("glove", "word2vec", "word2vec-bin", "fasttext", "npz"))
    if kind == "png":
        assert "a PNG image" in msg
    if kind == "gzip":
        assert "gunzip" in msg
    with pytest.raises(DataError, match="is not a text vectors file"):  # the text formats, named explicitly
        WordVectors.load(p, format="glove")


def test_binary_file_cli_one_line(tmp_path, capsys):
    p = tmp_path / "vectors.txt"
    p.write_bytes(_binary_files(tmp_path)["random"])
    assert main(["words", "info", "--vectors", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a text vectors file: it holds binary data" in err[0] and "--format" in err[0]


def test_npz_renamed_still_detected_and_malformed_text_keeps_line_numbers(tmp_path):
    import shutil

    p = tmp_path / "v.npz"
    np.savez(p, words=np.array(WORDS), vectors=VECS)
    shutil.copy(p, tmp_path / "v.txt")
    _check(WordVectors.load(tmp_path / "v.txt"), "npz")                   # content, not the name
    bad = tmp_path / "bad.txt"
    bad.write_bytes("café 1 2\nnaïve 3 x\n".encode("latin-1"))           # text, not UTF-8, malformed
    with pytest.raises(DataError, match=r"line 2: a value is not a number"):
        WordVectors.load(bad)


# ----------------------------------------------------------------------------- layering, cache
def _imports(path) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def test_formats_imports_nothing_from_vectors():
    from pathlib import Path

    from transferlab.words import formats

    modules = sorted(Path(formats.__file__).parent.glob("*.py"))
    assert len(modules) > 1   # a package: each module is checked
    for path in modules:
        ours = {n for n in _imports(path) if n.startswith("transferlab")}
        outside = {n for n in ours if not n.startswith("transferlab.words.formats")}
        assert not {n for n in outside if n.startswith("transferlab.words")}, (path.name, ours)   # nothing above it
        assert {n.split(".")[1] for n in outside} <= {"errors", "io", "runtime", "cache"}, (path.name, ours)
    from transferlab.words import vectors

    assert vectors.LoadSummary is formats.LoadSummary and vectors.FORMATS is formats.FORMATS   # re-exported


def test_vocabulary_cache_goes_to_transferlab_cache(tmp_path, monkeypatch):
    from transferlab.runtime import cache_dir

    monkeypatch.setenv("TRANSFERLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    wv = WordVectors.load()
    assert wv.index_to_key[:3] == ["the", ",", "."]
    assert cache_dir("words") == tmp_path / "cache" / "words"
    assert [p.suffix for p in (tmp_path / "cache" / "words").iterdir()] == [".vocab"]
    assert not (tmp_path / "xdg").exists()
