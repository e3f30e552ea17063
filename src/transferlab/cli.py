"""The ``transferlab`` command: thin argparse doors onto the typed configs of each capability.

Each capability fills its sub-commands' parsers in ``<package>/cli.py`` (a ``PARSERS`` table of
``name -> fill(parser)``); this module only lists them and builds the one that is asked for, so
``transferlab --help`` and ``transferlab fne --help`` import neither torch nor the other commands.
User errors are one line on stderr and exit status 2; exit status 1 means a bug.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback

from transferlab.errors import TransferlabError

# a write failing with these is the environment's fault, never a bug, wherever it happens
_FULL_OR_READ_ONLY = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)

# name -> (module that fills its parser, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("transferlab.models.cli", "list the backbones that work offline; how to name any timm/torchvision one"),
    "layers": ("transferlab.models.cli", "the tappable layers of a model, or its blocks (--blocks)"),
    "classify": ("transferlab.models.cli", "ImageNet top-k labels of images: check that weights and preprocessing "
                                           "are right"),
    "embed": ("transferlab.fne.cli", "extract pooled activations of many layers (cached)"),
    "probe": ("transferlab.fne.cli", "linear SVM on the features of an `embed` run"),
    "fne": ("transferlab.fne.cli", "full-network embedding + linear SVM in one command"),
    "finetune": ("transferlab.finetune.cli", "fine-tune a backbone: choose transferred, frozen and retrained blocks"),
    "predict": ("transferlab.finetune.cli", "top-k classes of new images with a finished fne or finetune run"),
    "words": ("transferlab.words.cli", "word-embedding space: similarity, analogies, clusters, benchmarks"),
    "sweep": ("transferlab.sweep.cli", "run a study: a grid or list of fne / finetune runs, one results table"),
    "report": ("transferlab.report.cli", "one self-contained report.html for any run folder (fne, finetune, sweep, words): "
                                         "numbers, confusion matrix with its images, galleries"),
    "cache": ("transferlab.cache.cli", "the cache ($TRANSFERLAB_CACHE): where it is, what it holds (info); "
                                       "empty it (clear)"),
    "demo": ("transferlab.cli", "every capability offline on built-in defaults (about 3 minutes on 2 cores)"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``transferlab`` parser; with ``only``, just that sub-command is filled in (fast start-up)."""
    from transferlab.cli_args import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="transferlab", formatter_class=HelpFormatter,
        description="Transfer learning toolkit: fine-tuning, full-network embeddings, word embeddings, sweeps.",
        epilog="examples:\n  transferlab demo\n  transferlab fne --data fashion-mnist --per-class 100 --compare\n"
               "  transferlab COMMAND --help")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, formatter_class=HelpFormatter, description=help_text)
        if only is None or name == only:
            importlib.import_module(module).PARSERS[name](p)
    return parser


def fill_demo(p) -> None:
    from transferlab.cli_args import command
    from transferlab.demo import PARTS, DemoConfig

    command(p, DemoConfig, _run_demo,
            "Every capability, offline, on built-in defaults: the lab's lessons with real numbers. Parts: "
            + "; ".join(f"{key}: {title}" for key, title, _ in PARTS) + ". About 2-3 minutes on 2 CPU cores "
            "(--quick: about a minute). Prints every number and where each report is.",
            ["transferlab demo", "transferlab demo --only fne words --out demo-output"])


def _run_demo(args) -> int:
    from transferlab.cli_args import config_from_args
    from transferlab.demo import DemoConfig, run_demo

    run_demo(config_from_args(DemoConfig, args), as_json=args.json)
    return 0


PARSERS = {"demo": fill_demo}


def _version() -> str:
    from transferlab import __version__

    return __version__


def _requested(argv: list[str]) -> str | None:
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    command = _requested(argv)
    parser = build_parser(only=command or "")
    args = parser.parse_args(argv)
    sub_command = getattr(args, "words_command", None) or getattr(args, "cache_command", None)
    name = args.command + (f" {sub_command}" if sub_command else "")
    try:
        result = args.func(args)
    except TransferlabError as exc:
        print(f"transferlab {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"transferlab {name}: interrupted; partial outputs were not kept.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        _silence_stdout()
        return 141
    except Exception as exc:  # noqa: BLE001 - a bug: say so, with the traceback to report
        if isinstance(exc, OSError) and exc.errno in _FULL_OR_READ_ONLY:  # a write that bypassed transferlab.io
            from transferlab.io import write_error

            print(f"transferlab {name}: error: {write_error(exc, exc.filename or '(a file)', 'writing')}",
                  file=sys.stderr)
            return 2
        traceback.print_exc()
        print(f"transferlab {name}: internal error (a bug; please report it with the traceback above): "
              f"{exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
