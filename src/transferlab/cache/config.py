"""The typed options of ``transferlab cache info|clear`` (and ``tl.cache_info`` / ``tl.clear_cache``), and
the kinds of entry the cache holds."""
from __future__ import annotations

from pydantic import field_validator

from transferlab.runtime import cache_root
from transferlab.schema import Config, option, quiet_option

# the kinds this package writes, and what each holds
KINDS = {
    "features": "extracted features of embed, fne and sweep runs (.npz)",
    "engines": "exported ONNX graphs and OpenVINO's compiled blobs",
    "words": "the built-in word vectors' vocabulary",
    "FashionMNIST": "the downloaded Fashion-MNIST dataset (fne/finetune --data fashion-mnist --ensure)",
}


def kinds_present() -> list[str]:
    """The kinds of the known list, then any other folder under the cache root."""
    root = cache_root()
    others = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if root.is_dir() else []
    return list(KINDS) + [k for k in others if k not in KINDS]


def check_kinds(kinds: list[str]) -> None:
    known = kinds_present()
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise ValueError(f"must be one of {', '.join(known)}")


class CacheInfoConfig(Config):
    """``transferlab cache info``: where the cache is, its size per kind, its entries."""

    command = "cache info"
    quiet: bool = quiet_option("only the location and the total, not each kind")


class CacheClearConfig(Config):
    """``transferlab cache clear``: delete cache entries (all, of some kinds, or the old ones)."""

    command = "cache clear"
    quiet: bool = quiet_option("only the summary line, not each file removed")
    kind: list[str] | None = option(None, "only these kinds (features, engines, words, FashionMNIST, ...; "
                                          "`transferlab cache info` lists them)", nargs="+", metavar="KIND",
                                    default_text="every kind")
    older_than: float | None = option(None, "only entries last written more than DAYS days ago", ge=0,
                                      metavar="DAYS", default_text="every entry")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value):
        if value is not None:
            check_kinds(value)
        return value
