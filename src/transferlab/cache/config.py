"""The options of ``transferlab cache info`` and ``transferlab cache clear``."""
from __future__ import annotations

from pydantic import field_validator

from transferlab.schema import Config, option


class CacheInfoConfig(Config):
    """``transferlab cache info``: where the cache is, its size per kind, its entries."""

    command = "cache info"


class CacheClearConfig(Config):
    """``transferlab cache clear``: delete cache entries (all, of some kinds, or the old ones)."""

    command = "cache clear"
    kind: list[str] | None = option(None, "only these kinds (features, engines, words, FashionMNIST, ...; "
                                          "`transferlab cache info` lists them)", nargs="+", metavar="KIND",
                                    default_text="every kind")
    older_than: float | None = option(None, "only entries last written more than DAYS days ago", ge=0,
                                      metavar="DAYS", default_text="every entry")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value):
        from transferlab.cache.manage import check_kinds

        if value is not None:
            try:
                check_kinds(value)
            except ValueError as exc:
                raise ValueError(str(exc).split(": ", 1)[1]) from None
        return value
