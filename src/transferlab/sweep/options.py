"""The options a sweep may set, read from the real ``fne`` and ``finetune`` argparse parsers.

Nothing here is a copy of those option lists: a sweep builds the very parsers that
``transferlab fne`` and ``transferlab finetune`` use, so an option added there can be swept at
once, and a spec can never name an option those commands do not have.

A spec key may be written as the option (``--backbone-lr-mult``, ``backbone-lr-mult``) or as its
destination (``backbone_lr_mult``); ``no-cache-frozen: true`` is the same as
``cache_frozen: false``.  Every value is converted to command-line words and parsed by the real
parser, so types and choices are checked exactly as on the command line.
"""
from __future__ import annotations

import argparse
import difflib
import functools
from dataclasses import dataclass

from transferlab.errors import BadInputError

COMMANDS = ("fne", "finetune")

# Set by the sweep itself (each run's folder, quiet workers), or meaningless inside a sweep.
CONTROLLED = frozenset({"help", "out", "json", "config", "resume", "overwrite", "quiet"})

# Change where or how fast a run executes, never its result: not part of a run's identity.
RUNTIME = frozenset({"workers", "device", "quiet", "no_cache", "cache_max_gb"})

# Options whose values are file system paths (made absolute when a run executes).
PATH_OPTIONS = frozenset({"data", "train_list", "test_list", "images", "weights"})


class _Refusing(argparse.ArgumentParser):
    """A parser whose errors are exceptions (argparse's default is to exit)."""

    def error(self, message):  # noqa: D401
        raise BadInputError(message)


@dataclass(frozen=True)
class OptionTable:
    command: str
    parser: argparse.ArgumentParser
    actions: dict  # dest -> argparse.Action (settable ones only)
    aliases: dict  # spelling -> (dest, inverted)

    @property
    def names(self) -> list[str]:
        """The valid option names (destinations), sorted."""
        return sorted(self.actions, key=str.lower)

    def normalise(self, key: str, value, where: str):
        """(dest, value) for a spec key as written; an unknown key names itself and the valid ones."""
        k = str(key).strip()
        hit = self.aliases.get(k) or self.aliases.get(k.lstrip("-")) or self.aliases.get(k.lstrip("-").replace("-", "_"))
        if hit is None:
            raise BadInputError(unknown_option_message(self, k, where))
        dest, inverted = hit
        if inverted:
            if not isinstance(value, bool):
                raise BadInputError(f"{where}: {k} expects true or false, got {value!r}")
            value = not value
        return dest, value

    def argv(self, options: dict, where: str) -> list[str]:
        """Command-line words for ``{dest: value}`` (None = the command's default)."""
        words: list[str] = []
        for dest, action in self.actions.items():
            if dest not in options or options[dest] is None:
                continue
            value = options[dest]
            flag = action.option_strings[-1]
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                if not isinstance(value, bool):
                    raise BadInputError(f"{where}: {dest} expects true or false, got {value!r}")
                if value != action.default:
                    words.append(flag)
            elif isinstance(action.nargs, int) and action.nargs > 1:
                if not isinstance(value, (list, tuple)) or len(value) != action.nargs:
                    raise BadInputError(f"{where}: {dest} expects a list of {action.nargs} values, got {value!r}")
                words += [flag, *(_word(v) for v in value)]
            else:
                if isinstance(value, (list, tuple, dict)):
                    raise BadInputError(f"{where}: {dest} takes one value, got {value!r}")
                words += [flag, _word(value)]
        return words

    def parse(self, words: list[str], where: str) -> argparse.Namespace:
        try:
            return self.parser.parse_args(words)
        except BadInputError as exc:
            raise BadInputError(f"{where}: {exc}") from None

    def identity(self, ns: argparse.Namespace) -> dict:
        """The options that differ from the command's defaults, runtime ones left out (a run's identity)."""
        out = {}
        for dest, action in self.actions.items():
            if dest in RUNTIME:
                continue
            value = getattr(ns, dest, None)
            if value != action.default:
                out[dest] = list(value) if isinstance(value, tuple) else value
        return out


def _word(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def unknown_option_message(table: OptionTable, key: str, where: str) -> str:
    close = difflib.get_close_matches(key.lstrip("-").replace("-", "_"), table.names, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return (f"{where}: unknown option {key!r} for `transferlab {table.command}`.{hint} "
            f"Valid options: {', '.join(table.names)}")


@functools.lru_cache(maxsize=None)
def option_table(command: str) -> OptionTable:
    """The settable options of ``transferlab fne`` or ``transferlab finetune``, from their own parsers."""
    if command not in COMMANDS:
        raise BadInputError(f"unknown sweep command {command!r}: choose {' or '.join(COMMANDS)}")
    root = _Refusing(prog="transferlab")
    sub = root.add_subparsers(dest="command", parser_class=_Refusing)
    module = {"fne": "transferlab.probe.cli", "finetune": "transferlab.finetune.cli"}[command]
    import importlib

    importlib.import_module(module).register(sub)
    parser = sub.choices[command]
    actions, aliases = {}, {}
    for action in parser._actions:
        if action.dest in CONTROLLED or isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        actions[action.dest] = action
        aliases[action.dest] = (action.dest, False)
        for opt in action.option_strings:
            name = opt.lstrip("-")
            inverted = isinstance(action, argparse._StoreFalseAction)
            aliases.setdefault(name, (action.dest, inverted))
            aliases.setdefault(name.replace("-", "_"), (action.dest, inverted))
    return OptionTable(command, parser, actions, aliases)


def probe_dests() -> frozenset:
    """Options of the probe (post-processing + SVM): runs that differ only in these share features."""
    from transferlab.probe.cli import add_probe_arguments

    p = argparse.ArgumentParser(add_help=False)
    add_probe_arguments(p)
    return frozenset(a.dest for a in p._actions)
