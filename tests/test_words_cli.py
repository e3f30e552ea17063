"""``transferlab words``: one vocabulary across sub-commands (--top-k, --out FOLDER, --json, --quiet),
parsers built from the configs, run folders, and the same messages from the CLI and from Python."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from transferlab.cli import build_parser, main
from transferlab.runs import read_manifest
from transferlab.schema import ConfigError
from transferlab.words import WordVectors
from transferlab.words.cli import SUBCOMMANDS
from transferlab.words.config import CONFIGS, ClusterConfig, SimilarConfig

WORDS_CSV = "# word,category\ndog,animal\ncat,animal\nhorse,animal\ncar,vehicle\ntruck,vehicle\nbus,vehicle\n"


@pytest.fixture(scope="module")
def wv():
    return WordVectors.load()


def _run(capsys, argv):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _json(capsys, argv):
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    return json.loads(out)  # exactly one JSON object


def _words_parsers() -> dict[str, argparse.ArgumentParser]:
    root = build_parser(only="words")
    words = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction)).choices["words"]
    return next(a for a in words._actions if isinstance(a, argparse._SubParsersAction)).choices


# ----------------------------------------------------------------------------- top-k
@pytest.mark.parametrize("argv, n", [
    (["similar", "frog"], 3), (["analogy", "man", "king", "woman"], 4), (["neighbours", "paris", "london"], 2)])
def test_top_k_spelling_and_hidden_aliases(capsys, argv, n):
    runs = [_json(capsys, ["words", *argv, flag, str(n), "--json"]) for flag in ("--top-k", "-n", "--topn")]
    assert runs[0] == runs[1] == runs[2]
    first = runs[0]
    lists = first.get("similar") or first.get("answers") or next(iter(first["neighbours"].values()))
    assert len(lists) == n
    help_text = _words_parsers()[argv[0]].format_help()
    assert "--top-k K" in help_text and "--topn" not in help_text and "-n " not in help_text


def test_top_k_zero_same_message_from_cli_and_python(capsys, wv):
    code, out, err = _run(capsys, ["words", "similar", "frog", "--top-k", "0"])
    assert code == 2 and out == ""
    with pytest.raises(ConfigError) as e:
        wv.most_similar("frog", top_k=0)
    assert err.strip().splitlines() == [f"transferlab words similar: error: {e.value}"]
    assert str(e.value) == "top_k (--top-k) must be an integer >= 1, got 0"
    with pytest.raises(ConfigError) as c:
        SimilarConfig(word="frog", top_k=0)
    assert str(c.value) == str(e.value)
    for argv in (["analogy", "man", "king", "woman", "-n", "0"], ["neighbours", "cat", "--topn", "0"]):
        code, _, err = _run(capsys, ["words", *argv])
        assert code == 2 and err.strip().endswith(str(e.value))


def test_bad_values_one_line_no_traceback(capsys, tmp_path):
    cases = [
        (["similar", "frog", "--restrict", "-1"], "restrict (--restrict) must be an integer >= 0, got -1"),
        (["similar", "frog", "--top-k", "many"], "top_k (--top-k) must be an integer >= 1, got many"),
        (["similar", "--vector", "1,x"], "vector (--vector) must be numbers separated by commas"),
        (["cluster", "--most-frequent", "2"], "most_frequent (--most-frequent) must be an integer >= 3, got 2"),
        (["cluster", "--top", "2"], "most_frequent (--most-frequent) must be an integer >= 3, got 2"),
        (["cluster", "dog", "cat", "car", "-k", "0"], "k (-k) must be an integer >= 1, got 0"),
        (["cluster", "dog", "cat", "--most-frequent", "5"], "--most-frequent clusters the most frequent words"),
        (["cluster", "dog", "cat", "car", "--out", str(tmp_path / "map.png")], "out (--out) must be a folder"),
        (["distances", "cat", "--metric", "manhattan"], "metric (--metric) must be one of cosine, euclidean"),
        (["distances", "cat", "cat"], "words (WORDS) needs at least two different words"),
        (["odd-one-out", "cat", "dog"], "words (WORDS) needs at least three words"),
        (["evaluate"], "give --analogies FILE and/or --similarity FILE"),
        (["neighbours"], "give words as arguments or with --file"),
    ]
    for argv, message in cases:
        code, out, err = _run(capsys, ["words", *argv])
        lines = err.strip().splitlines()
        assert code == 2 and out == "", argv
        assert message in lines[-1] and "Traceback" not in err, (argv, err)
    with pytest.raises(ConfigError, match="most_frequent .* >= 3, got 2"):
        ClusterConfig(most_frequent=2)


# ----------------------------------------------------------------------------- run folders
def test_cluster_out_is_a_folder_with_a_manifest(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "words.csv").write_text(WORDS_CSV)
    argv = ["words", "cluster", "--file", "words.csv", "--out", "runs/clusters"]   # the README's example
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    folder = tmp_path / "runs" / "clusters"
    assert (folder / "clusters.png").stat().st_size > 1000
    result = json.loads((folder / "clusters.json").read_text())
    assert result["k"] == 2 and result["purity"] == 1.0 and len(result["coords"]) == 6
    m = read_manifest(folder)
    assert m["command"] == "words cluster" and m["status"] == "complete"
    assert m["config"]["file"] == "words.csv" and m["summary"]["purity"] == 1.0
    assert {f["path"] for f in m["files"]} == {"clusters.png", "clusters.json"}
    assert "map: runs/clusters/clusters.png" in out
    # a second run into the same folder: refused, the first run intact; then replaced with --overwrite
    code, out, err = _run(capsys, argv + ["-k", "3"])
    assert code == 2 and "already holds a `transferlab words cluster` run" in err and "--overwrite" in err
    assert json.loads((folder / "clusters.json").read_text())["k"] == 2
    r = _json(capsys, argv + ["-k", "3", "--overwrite", "--json"])
    assert r["k"] == 3 and r["out"] == "runs/clusters" and r["json"] == "runs/clusters/clusters.json"
    assert json.loads((folder / "clusters.json").read_text())["k"] == 3
    assert read_manifest(folder)["status"] == "complete"


def test_cluster_most_frequent_and_hidden_top(capsys, tmp_path):
    a = _json(capsys, ["words", "cluster", "--most-frequent", "30", "-k", "3", "--out", tmp_path / "a", "--json"])
    b = _json(capsys, ["words", "cluster", "--top", "30", "-k", "3", "--out", tmp_path / "b", "--json"])
    assert a["words"] == b["words"] == WordVectors.load().index_to_key[:30] and a["labels"] == b["labels"]
    assert "--top " not in _words_parsers()["cluster"].format_help()


def test_export_out_folder(capsys, tmp_path, wv):
    r = _json(capsys, ["words", "export", "--out", tmp_path / "exp", "--limit", "100", "--json"])
    vec = tmp_path / "exp" / "vectors.txt"
    assert r["path"] == str(vec) and r["n_words"] == 100 and vec.read_text().splitlines()[0] == "100 50"
    back = WordVectors.load(vec)
    np.testing.assert_array_equal(back.vectors, wv[back.index_to_key])
    m = read_manifest(tmp_path / "exp")
    assert m["command"] == "words export" and m["status"] == "complete" and m["config"]["limit"] == 100
    code, _, err = _run(capsys, ["words", "export", "--out", tmp_path / "exp", "--limit", "10"])
    assert code == 2 and "already holds" in err
    code, _, err = _run(capsys, ["words", "export", "--out", tmp_path / "exp", "--limit", "10", "--overwrite",
                                 "--no-header"])
    assert code == 0 and len(vec.read_text().splitlines()) == 10 and vec.read_text().count(" ") == 500
    with pytest.raises(SystemExit) as stop:   # the folder is given as --out DIR only, never as a positional
        main(["words", "export", str(tmp_path / "old.txt"), "--limit", "5"])
    assert stop.value.code == 2 and not (tmp_path / "old.txt").exists()


def test_export_projector_out_folder(capsys, tmp_path):
    (tmp_path / "w.csv").write_text(WORDS_CSV)
    r = _json(capsys, ["words", "export-projector", "--out", tmp_path / "proj", "--file", tmp_path / "w.csv", "--json"])
    assert r["n_words"] == 6 and r["metadata_tsv"] == str(tmp_path / "proj" / "metadata.tsv")
    assert (tmp_path / "proj" / "metadata.tsv").read_text().splitlines()[1] == "dog\tanimal"
    assert read_manifest(tmp_path / "proj")["command"] == "words export-projector"
    code, _, err = _run(capsys, ["words", "export-projector", "--out", tmp_path / "proj", "--limit", "5"])
    assert code == 2 and "already holds" in err
    code, _, err = _run(capsys, ["words", "export-projector", "--out", tmp_path / "new", "--limit", "5"])
    assert code == 0 and len((tmp_path / "new" / "vectors.tsv").read_text().splitlines()) == 5
    assert read_manifest(tmp_path / "new")["status"] == "complete"


# ----------------------------------------------------------------------------- --json, --quiet, help
def test_every_subcommand_has_json_quiet_defaults_and_examples():
    parsers = _words_parsers()
    assert set(parsers) == set(SUBCOMMANDS) == set(CONFIGS)
    for name, p in parsers.items():
        flags = {s for a in p._actions for s in a.option_strings}
        assert {"--json", "--quiet"} <= flags, name
        assert p.epilog.startswith("examples:\n  transferlab words " + name), name
        for a in p._actions:
            if a.help == argparse.SUPPRESS or isinstance(a, argparse._HelpAction):
                continue
            if a.option_strings or a.nargs in ("?", "*"):
                assert "default" in a.help, (name, a.option_strings or a.dest, a.help)


def test_quiet_silences_warnings(capsys, tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("cat 1 0\ndog 0.9 0.1\nbad 1\ncar 0 1\n")
    code, out, err = _run(capsys, ["words", "similarity", "cat", "dog", "--vectors", p, "--lenient"])
    assert code == 0 and "warning: " in err and "skipped 1 malformed" in err
    code, out, err = _run(capsys, ["words", "similarity", "cat", "dog", "--vectors", p, "--lenient", "--quiet"])
    assert code == 0 and err == "" and "similarity(cat, dog)" in out
    code, out, err = _run(capsys, ["words", "info", "--vectors", p, "--lenient", "--quiet", "--json"])
    assert code == 0 and err == "" and json.loads(out)["malformed"] == 1
