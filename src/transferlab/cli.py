"""The ``transferlab`` command: a thin argparse layer over the Python API.

Each capability owns its sub-commands in ``<package>/cli.py`` and exposes
``register(subparsers)``; this module only wires them together.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from transferlab.errors import TransferlabError

COMMAND_MODULES = (
    "transferlab.models.cli",
    "transferlab.embed.cli",
    "transferlab.probe.cli",
    "transferlab.finetune.cli",
    "transferlab.words.cli",
    "transferlab.sweep.cli",
    "transferlab.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transferlab",
        description="Transfer learning toolkit: fine-tuning, full-network embeddings, word embeddings, sweeps.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    from transferlab import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except TransferlabError as exc:
        print(f"transferlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"transferlab {args.command}: interrupted; partial outputs were not kept.", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
