"""``transferlab cache info|clear``: the door onto ``transferlab.cache.manage``."""
from __future__ import annotations

import argparse
import json

from transferlab.cache.config import CacheClearConfig, CacheInfoConfig
from transferlab.cli_args import add_config_arguments, add_subcommands, config_from_args

DESCRIPTION = ("The cache under $TRANSFERLAB_CACHE (default ~/.cache/transferlab): extracted features, exported "
               "graphs, the word vocabulary. Every entry is checked when read; a damaged one is computed again.")


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
