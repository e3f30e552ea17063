"""Standard benchmarks: word analogies (questions-words format) and word-pair similarity
(WordSim353 / SimLex-999 style).  Defaults follow gensim's ``KeyedVectors.evaluate_word_analogies``
and ``evaluate_word_pairs`` so the numbers are comparable: case-insensitive (a word's most frequent
case variant answers for it), only the 300,000 most frequent words, questions with an
out-of-vocabulary word skipped and counted.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transferlab.errors import BadInputError, DataError
from transferlab.words import validate
from transferlab.words.space import DEFAULT_RESTRICT, VectorSpace


def _read_lines(path: str | Path) -> tuple[list[str], int]:
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"benchmark file not found: {path}")
    if path.is_dir():
        raise BadInputError(f"{path} is a directory, not a benchmark file")
    raw = path.read_bytes()
    try:
        return [ln.rstrip("\r") for ln in raw.decode("utf-8").split("\n")], 0
    except UnicodeDecodeError:
        lines = []
        replaced = 0
        for b in raw.split(b"\n"):
            b = b.rstrip(b"\r")
            try:
                lines.append(b.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(b.decode("utf-8", "replace"))
                replaced += 1
        return lines, replaced


def _vocab(wv: VectorSpace, restrict: int | None, case_insensitive: bool, needed: set[str]) -> dict[str, int]:
    """Key -> row for the ``needed`` keys found among the first ``restrict`` words; the first (most
    frequent) case variant wins, as in gensim.  Only the needed keys are kept (memory)."""
    keys = wv.index_to_key[:restrict] if restrict else wv.index_to_key
    ok: dict[str, int] = {}
    if not case_insensitive:
        return {k: i for k in needed if (i := wv.key_to_index.get(k, -1)) >= 0 and i < len(keys)}
    for i in [i for i, u in enumerate(_upper_all(keys)) if u in needed]:
        ok.setdefault(keys[i].upper(), i)
    return ok


def _upper_all(strings: list[str]) -> list[str]:
    """``[s.upper() for s in strings]`` in one C call on the joined text where no string holds a
    line break (upper-casing never makes or removes one)."""
    joined = "\n".join(strings)
    if joined.count("\n") == len(strings) - 1:
        out = joined.upper().split("\n")
        if len(out) == len(strings):
            return out
    return [s.upper() for s in strings]


def evaluate_analogies(wv: VectorSpace, path: str | Path, restrict: int | None = DEFAULT_RESTRICT,
                       case_insensitive: bool = True, method: str = "add") -> dict:
    """Accuracy on an analogy file (``: section`` lines, then ``a b c d`` per line: a:b :: c:d).

    Returns ``accuracy``, ``n_questions`` (answered), ``n_correct``, ``n_skipped`` (an
    out-of-vocabulary word), ``n_invalid`` (lines without exactly four words), ``sections`` (name ->
    accuracy, None where no question could be answered) and ``section_details``.
    """
    start = time.perf_counter()
    restrict = validate.restrict(restrict)
    lines, replaced = _read_lines(path)
    keyed = _upper_all(lines) if case_insensitive else lines       # lines with every word normalised
    needed: set[str] = set()
    for ln in keyed:
        if not ln.startswith(": "):
            needed.update(ln.split())
    ok = _vocab(wv, restrict, case_insensitive, needed)
    qs = _read_questions(path, lines, keyed, ok)
    sections = qs.sections
    n_skipped = sum(s["skipped"] for s in sections)
    if not qs.rows:
        why = (f"all {n_skipped} question(s) have a word outside the {restrict or len(wv)} most frequent words"
               if n_skipped else "no line has exactly four words under a ': section' header")
        raise DataError(f"{path}: no usable analogy question ({why})")
    _answer(wv, qs, ok, restrict, case_insensitive, method)
    n_correct = sum(s["correct"] for s in sections)
    n_questions = len(qs.rows)
    return {
        "file": str(path),
        "method": method,
        "restrict": restrict,
        "case_insensitive": case_insensitive,
        "accuracy": n_correct / n_questions,
        "n_questions": n_questions,
        "n_correct": n_correct,
        "n_skipped": n_skipped,
        "n_invalid": qs.n_invalid,
        "oov_ratio": n_skipped / (n_skipped + n_questions),
        "lines_with_replaced_bytes": replaced,
        "sections": {s["section"]: (s["correct"] / s["total"] if s["total"] else None) for s in sections},
        "section_details": sections,
        "seconds": round(time.perf_counter() - start, 3),
    }


@dataclass
class _Questions:
    """The answerable questions of an analogy file: their rows, expected (normalised) answers, query
    words and sections; the per-section counts (``correct`` filled in by :func:`_answer`)."""

    sections: list[dict] = field(default_factory=list)
    rows: list[tuple[int, int, int]] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    ignore: list[tuple[str, str, str]] = field(default_factory=list)
    section_of: list[int] = field(default_factory=list)
    n_invalid: int = 0


def _read_questions(path, lines: list[str], keyed: list[str], ok: dict[str, int]) -> _Questions:
    """The questions whose four words are all in ``ok``; the others counted per section as skipped."""
    qs = _Questions()
    sec: dict | None = None
    for lineno, (line, words) in enumerate(zip(lines, keyed), 1):
        if line.startswith(": "):
            sec = {"section": line.lstrip(": ").strip(), "correct": 0, "total": 0, "skipped": 0}
            qs.sections.append(sec)
            continue
        words = words.split()
        if not words:  # blank line: neither a question nor an error
            continue
        if len(words) != 4:
            qs.n_invalid += 1
            continue
        if sec is None:
            raise DataError(f"{path}, line {lineno}: a question before any ': section' line")
        a, b, c, d = words
        if a not in ok or b not in ok or c not in ok or d not in ok:
            sec["skipped"] += 1
            continue
        qs.rows.append((ok[a], ok[b], ok[c]))
        qs.expected.append(d)
        qs.ignore.append((a, b, c))
        qs.section_of.append(len(qs.sections) - 1)
        sec["total"] += 1
    return qs


def _answer(wv: VectorSpace, qs: _Questions, ok, restrict, case_insensitive: bool, method: str) -> None:
    """Answer every question in one batched search and count the correct ones per section."""
    norm = (lambda w: w.upper()) if case_insensitive else (lambda w: w)
    rows = np.asarray(qs.rows, dtype=np.int64)
    if case_insensitive and wv.has_case_variants():
        exclude = [_excluded(wv, ok, r, ig, restrict, case_insensitive) for r, ig in zip(rows, qs.ignore)]
    else:
        exclude = rows  # just the three query rows (an array: no per-question Python in the search)
    idx, _ = wv.search_index.analogies(rows, 1, method, restrict, exclude)
    for i, (qi, exp) in enumerate(zip(idx[:, 0], qs.expected)):
        if qi >= 0 and norm(wv.index_to_key[qi]) == exp:
            qs.sections[qs.section_of[i]]["correct"] += 1


def _excluded(wv, ok, row, ignore, restrict, case_insensitive) -> list[int]:
    """The query rows, and (case-insensitively) any other case variant of the query words."""
    out = set(int(r) for r in row)
    if case_insensitive and wv.has_case_variants():
        groups = wv.case_groups()
        for w in ignore:
            for r in groups.get(w.lower(), ()):
                if (restrict is None or r < restrict) and wv.index_to_key[r].upper() == w:
                    out.add(r)
    return sorted(out)


def evaluate_similarity(wv: VectorSpace, path: str | Path, restrict: int | None = DEFAULT_RESTRICT,
                        case_insensitive: bool = True) -> dict:
    """Pearson and Spearman correlation between cosine similarity and human scores.

    Lines: ``word1 word2 score`` separated by tabs, commas or spaces; ``#`` starts a comment line.
    Pairs with a word outside the ``restrict`` most frequent words are skipped and counted.
    """
    from scipy import stats

    restrict = validate.restrict(restrict)
    lines, replaced = _read_lines(path)
    norm = (lambda w: w.upper()) if case_insensitive else (lambda w: w)
    needed = set()
    for line in lines:
        needed.update(norm(p) for p in _fields(line)[:2])
    ok = _vocab(wv, restrict, case_insensitive, needed)
    gold, model, n_oov, n_invalid, oov_words = _score_pairs(wv.normed, lines, norm, ok)
    if len(gold) < 3:
        why = f"{n_oov} pair(s) out of vocabulary, {n_invalid} invalid line(s)"
        raise DataError(f"{path}: not enough usable word pairs to correlate ({len(gold)}; {why})")
    spearman = stats.spearmanr(gold, model)
    pearson = stats.pearsonr(gold, model)
    return {
        "file": str(path),
        "restrict": restrict,
        "case_insensitive": case_insensitive,
        "spearman": float(spearman[0]),
        "spearman_p": float(spearman[1]),
        "pearson": float(pearson[0]),
        "pearson_p": float(pearson[1]),
        "n_pairs": len(gold),
        "n_oov": n_oov,
        "oov_ratio": n_oov / (n_oov + len(gold)),
        "n_invalid": n_invalid,
        "oov_words": list(oov_words)[:20],
        "lines_with_replaced_bytes": replaced,
    }


def _fields(line: str) -> list[str]:
    """The fields of a word-pair line: split at tabs, else commas, else runs of spaces."""
    sep = "\t" if "\t" in line else ("," if "," in line else None)
    return [p.strip() for p in line.split(sep)]


def _score_pairs(N: np.ndarray, lines: list[str], norm, ok: dict[str, int]):
    """(human scores, cosines, pairs out of vocabulary, invalid lines, the unknown words in order)."""
    gold, model = [], []
    n_oov = n_invalid = 0
    oov_words: dict[str, None] = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = _fields(line)
        try:
            if len(parts) != 3:
                raise ValueError
            a, b, score = norm(parts[0]), norm(parts[1]), float(parts[2])
        except ValueError:
            n_invalid += 1
            continue
        if a not in ok or b not in ok:
            n_oov += 1
            for w, orig in ((a, parts[0]), (b, parts[1])):
                if w not in ok:
                    oov_words.setdefault(orig)
            continue
        gold.append(score)
        model.append(float(np.dot(N[ok[a]], N[ok[b]])))
    return gold, model, n_oov, n_invalid, oov_words
