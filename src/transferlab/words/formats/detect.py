"""What a vectors file is: its format detected from the content, and binary data given where text is
expected named as such (a PNG image, gzip-compressed data ...) instead of failing at some line."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from transferlab.errors import DataError

HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")  # the 'COUNT DIMENSIONS' line of word2vec files
# binary signatures a file given as text vectors is recognised by (names for the message)
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"\x1f\x8b", "gzip-compressed data (decompress it first: gunzip FILE)"),
          (b"BZh", "bzip2-compressed data (decompress it first: bunzip2 FILE)"),
          (b"\xfd7zXZ\x00", "xz-compressed data (decompress it first: unxz FILE)"),
          (b"PK", "a zip archive"), (b"%PDF", "a PDF document"), (b"\x93NUMPY", "a NumPy .npy array"))
# text vectors hold no NUL byte and almost no other control character; random or float32 bytes
# hold about 11% (the 29 control bytes of 256, newlines and tabs aside)
_MAX_CONTROL_SHARE = 0.02


def read_head(path: Path) -> bytes:
    """The first 64 KiB of a file: enough to tell its format."""
    with open(path, "rb") as f:
        return f.read(1 << 16)


def _is_npz(path: Path) -> bool:
    """A zip archive whose members are all ``.npy`` arrays (what ``np.savez`` writes)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def binary_kind(head: bytes) -> str | None:
    """What binary data the first bytes of a file are (``a PNG image`` ...), or None for text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if b"\x00" in head:
        return "binary data"
    control = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 11, 12, 13)) + head.count(b"\x7f")
    if head and control / len(head) > _MAX_CONTROL_SHARE:
        return "binary data"
    return None


def not_text_message(path: Path, what: str) -> str:
    return (f"{path} is not a text vectors file: it holds {what}. Formats read: glove, word2vec and fasttext "
            "(text, one 'word v1 ... vD' per line), word2vec-bin (binary, after its 'COUNT DIMENSIONS' header "
            "line), gensim (KeyedVectors.save) and npz (arrays 'words' and 'vectors'); name one with --format "
            "if the detection is wrong")


def detect_format(path: Path) -> str:
    """The format of a vectors file, from its first bytes (and its suffix for ``.npz`` / fastText ``.vec``)."""
    head = read_head(path)
    if not head.strip():
        raise DataError(f"{path} is empty: no word vectors in it")
    if path.suffix == ".npz" or (head[:2] == b"PK" and _is_npz(path)):
        return "npz"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):  # pickle: KeyedVectors.save
        return "gensim"
    first, _, rest = head.partition(b"\n")
    m = HEADER.match(first)
    if not m:
        return "glove"
    dim = int(m.group(2))
    line = rest.split(b"\n", 1)[0]
    try:
        parts = line.decode("utf-8", "replace").rstrip("\r ").split(" ")
        if len(parts) == dim + 1:
            [float(x) for x in parts[1:]]
            return "fasttext" if path.suffix == ".vec" else "word2vec"
    except ValueError:
        pass
    return "word2vec-bin"
