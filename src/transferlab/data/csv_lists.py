"""The CSV lists of a dataset: path and label columns found by header name, or headerless
``path,label[,split]`` rows; the delimiter is detected and errors name the file's own line numbers."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from transferlab.errors import BadInputError, DataError

# CSV columns are found by their header name (any case; spaces and dashes count as underscores).
PATH_COLUMNS = ("path", "file", "filename", "file_name", "filepath", "file_path", "image", "image_path",
                "img", "img_path")
LABEL_COLUMNS = ("label", "class", "category", "class_name", "label_name")
SPLIT_COLUMNS = ("split",)
CSV_DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024
_PATHLIKE = re.compile(r"[/\\]|\.[A-Za-z0-9]{1,5}$")


def _column_name(cell: str) -> str:
    return re.sub(r"[\s\-]+", "_", cell.strip().lower())


def _header_columns(cells: list[str]) -> tuple[bool, bool, bool]:
    names = {_column_name(c) for c in cells}
    return bool(names & set(PATH_COLUMNS)), bool(names & set(LABEL_COLUMNS)), bool(names & set(SPLIT_COLUMNS))


def _csv_delimiter(text: str) -> str:
    """The delimiter: the one that splits a header line into known column names, else what
    ``csv.Sniffer`` detects among ``CSV_DELIMITERS`` (and that occurs in the first line), else a comma."""
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    lines = [line for line in sample.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    for d in CSV_DELIMITERS:
        cells = next(csv.reader([first], delimiter=d), [])
        if len(cells) > 1 and sum(_header_columns(cells)) >= 2:
            return d
    try:
        d = csv.Sniffer().sniff("\n".join(lines[:100]), delimiters=CSV_DELIMITERS).delimiter
        if d in first:
            return d
    except csv.Error:
        pass
    return next((d for d in CSV_DELIMITERS if d in first), ",")


def _csv_records(text: str, delimiter: str):
    """``(line number, cells)`` of every non-blank record; the number is the record's first line in the file."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"line {reader.line_num}: {exc}") from None
        if any(c.strip() for c in row):
            yield line, row
        line = reader.line_num + 1


def _csv_columns(path: Path, line: int, cells: list[str]) -> tuple[int, int, int | None]:
    """(path, label, split) column indices from a header row, or a clear error."""
    names = [_column_name(c) for c in cells]
    found = ", ".join(repr(c.strip()) for c in cells)
    picked, missing, doubled = {}, [], []
    for what, accepted in (("path", PATH_COLUMNS), ("label", LABEL_COLUMNS), ("split", SPLIT_COLUMNS)):
        hits = [i for i, n in enumerate(names) if n in accepted]
        if len(hits) > 1:
            doubled.append(f"{len(hits)} {what} columns ({', '.join(repr(cells[i].strip()) for i in hits)})")
        elif not hits and what != "split":
            missing.append(what)
        picked[what] = hits[0] if hits else None
    if doubled:
        raise DataError(f"{path}:{line}: the header row has {' and '.join(doubled)}; keep one of each")
    if missing:
        accepted = "; ".join(f"{what}: {', '.join(choices)}" for what, choices in
                             (("path", PATH_COLUMNS), ("label", LABEL_COLUMNS), ("split (optional)", SPLIT_COLUMNS)))
        raise DataError(f"{path}:{line}: the header row names no {' and no '.join(missing)} column (columns found: "
                        f"{found}); accepted column names (any case) are {accepted}. A file without a header has "
                        "rows of path,label[,split]")
    return picked["path"], picked["label"], picked["split"]


def read_csv_list(path: Path) -> tuple[list[tuple[int, str, str, str]], bool, str]:
    """``([(line, path, label, split), ...], has split column, description of the columns)``.

    The first row is a header when it names a path and a label column (``PATH_COLUMNS``, ``LABEL_COLUMNS``,
    optional ``SPLIT_COLUMNS``), or when its first cell does not look like a file (no path separator, no
    extension, no such file): a header with unknown names is then an error listing them, never an image.
    Otherwise the file has no header and its rows are path,label[,split]. Line numbers are the file's.
    """
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")  # -sig: Excel's byte-order mark
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    delimiter = _csv_delimiter(text)
    try:
        records = list(_csv_records(text, delimiter))
    except DataError as exc:
        raise DataError(f"{path}:{str(exc).removeprefix('line ')}") from None
    if not records:
        raise DataError(f"{path}: no rows")
    line, first = records[0]
    has_path, has_label, _ = _header_columns(first)
    cell = first[0].strip()
    looks_like_data = bool(_PATHLIKE.search(cell)) or bool(cell and (path.parent / cell).is_file())
    if (has_path and has_label) or not looks_like_data:
        pi, li, si = _csv_columns(path, line, first)
        records = records[1:]
        columns = f"{first[pi].strip()!r} and {first[li].strip()!r} columns"
    else:
        pi, li, si = 0, 1, (2 if len(first) > 2 else None)
        columns = "path,label" + (",split" if si is not None else "") + " rows"
    if not records:
        raise DataError(f"{path}: no rows after the header")
    shown = "\t" if delimiter == "\t" else delimiter
    entries = []
    for n, row in records:
        if len(row) <= max(pi, li) or not row[pi].strip() or not row[li].strip():
            raise DataError(f"{path}:{n}: expected {columns} separated by {shown!r}, got {shown.join(row)!r}")
        split = row[si].strip().lower() if si is not None and len(row) > si else ""
        if si is not None and split not in ("train", "test", "val"):
            raise DataError(f"{path}:{n}: split must be train, val or test, got {split!r}")
        entries.append((n, row[pi].strip(), row[li].strip(), "test" if split == "val" else split))
    return entries, si is not None, columns
