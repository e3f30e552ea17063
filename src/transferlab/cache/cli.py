"""``transferlab cache info|clear``: the door onto ``transferlab.cache.manage``, and their typed options
(here rather than in the package: the cache sits on a floor below the schema, so the formats that
read word vectors may use it)."""
from __future__ import annotations

import argparse
import json

from pydantic import field_validator

from transferlab.cli_args import add_config_arguments, add_subcommands, config_from_args
from transferlab.schema import Config, option, quiet_option

DESCRIPTION = ("The cache under $TRANSFERLAB_CACHE (default ~/.cache/transferlab): extracted features, exported "
               "graphs, the word vocabulary. Every entry is checked when read; a damaged one is computed again.")


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
        from transferlab.cache.manage import check_kinds

        if value is not None:
            try:
                check_kinds(value)
            except ValueError as exc:
                raise ValueError(str(exc).split(": ", 1)[1]) from None
        return value


def cmd_info(args) -> int:
    from transferlab.cache.manage import cache_info, human_bytes

    cfg = config_from_args(CacheInfoConfig, args)
    info = cache_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    where = f"${info['variable']}" if info["set_by_variable"] else f"default; set ${info['variable']} to move it"
    print(f"cache: {info['root']} ({where}){'' if info['writable'] else ' (read-only)'}")
    for kind, k in ({} if cfg.quiet else info["kinds"]).items():
        print(f"  {kind:<13} {k['entries']:>5} entries {human_bytes(k['bytes']):>10}   {k['holds']}")
        for path in k["damaged"]:
            print(f"    damaged: {path} (computed again when next needed)")
    print(f"  total {human_bytes(info['bytes'])}; `transferlab cache clear [--kind KIND] [--older-than DAYS]` "
          "empties it")
    return 0


def cmd_clear(args) -> int:
    from transferlab.cache.manage import clear_cache, human_bytes

    cfg = config_from_args(CacheClearConfig, args)
    done = clear_cache(cfg.kind, cfg.older_than)
    if args.json:
        print(json.dumps(done, indent=2))
        return 0
    for e in [] if cfg.quiet else done["removed"]:
        whose = f" (a file of uid {e['owner_uid']})" if "owner_uid" in e else ""
        print(f"removed {e['path']}{whose}")
    for e in done["kept"]:
        print(f"could not remove {e['path']}: {e['reason']}")
    print(f"removed {len(done['removed'])} files, {human_bytes(done['bytes'])}, from {done['root']}")
    return 0


SUBCOMMANDS = {
    "info": (cmd_info, "where the cache is, its size per kind, its entries (and any damaged one)",
             ["transferlab cache info", "transferlab cache info --json"]),
    "clear": (cmd_clear, "delete cache entries: all, of some kinds, or those older than some days",
              ["transferlab cache clear --kind features --older-than 30", "transferlab cache clear"]),
}


def fill(parser: argparse.ArgumentParser) -> None:
    """Fill the ``cache`` parser: ``info`` and ``clear``, each built from its config."""
    parser.description = DESCRIPTION
    parser.epilog = "examples:\n  transferlab cache info\n  transferlab cache clear --kind features"
    add_subcommands(parser, "cache_command", SUBCOMMANDS,
                    lambda p, name: add_config_arguments(p, {"info": CacheInfoConfig, "clear": CacheClearConfig}[name]),
                    "print exactly one JSON object on stdout (default: text)")


PARSERS = {"cache": fill}
