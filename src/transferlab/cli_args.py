"""argparse parsers built from the configs (``transferlab.schema``), so they cannot drift from them.

Every option is added with ``default=SUPPRESS``: the namespace holds only what the user typed, and
``config_from_args`` hands exactly that to the config, which fills in the defaults and validates.
argparse itself checks nothing but the option names: values are checked once, by the schema, so
the command line gives the same message as a sweep spec or Python.  Only ``cli.py`` modules import
this module.
"""
from __future__ import annotations

import argparse
import typing
from typing import Any, Literal

from transferlab.schema import Config, _meta

# where a field's group is not given, its help section
_DEFAULT_GROUP = "options"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples of an epilog as written; wider option column."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def choices_of(cls: type[Config], name: str) -> tuple | None:
    """The values of a Literal field (or Literal | None); None when other values are allowed too."""
    ann = cls.model_fields[name].annotation
    if typing.get_origin(ann) is Literal:
        return typing.get_args(ann)
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if len(args) == 1 and typing.get_origin(args[0]) is Literal:
        return typing.get_args(args[0])
    return None


def default_text(cls: type[Config], name: str) -> str:
    """How the help states a field's default."""
    field = cls.model_fields[name]
    meta = _meta(field)
    if meta.get("default_text"):
        return meta["default_text"]
    value = field.default
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type[Config], *, exclude: set[str] | frozenset = (),
                         only: list[str] | None = None, groups: dict[str, Any] | None = None) -> list[argparse.Action]:
    """Add one argument per CLI field of ``cls`` (``only``: these fields, in this order)."""
    groups = {} if groups is None else groups
    names = only if only is not None else list(cls.model_fields)
    actions = []
    for name in names:
        if name in exclude:
            continue
        field = cls.model_fields[name]
        meta = _meta(field)
        if not meta.get("cli", True):
            continue
        title = meta.get("group") or _DEFAULT_GROUP
        if title == _DEFAULT_GROUP:
            target = parser
        else:
            if title not in groups:
                groups[title] = parser.add_argument_group(title)
            target = groups[title]
        help_text = field.description or ""
        choices = choices_of(cls, name)
        kw: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        if meta.get("positional"):
            kw.pop("dest")
            kw.pop("default")
            nargs = meta.get("nargs")
            if nargs is not None:
                kw["nargs"] = nargs
            if field.default is not None and not field.is_required():
                kw["default"] = argparse.SUPPRESS
                kw.setdefault("nargs", "?")
            action = target.add_argument(name, metavar=meta.get("metavar") or name.upper(),
                                         help=_with_default(help_text, cls, name, positional=True), **kw)
        elif field.annotation is bool or field.default is True or field.default is False:
            if field.default is True:  # the flag turns off what the field's help describes
                flags = [meta.get("negate") or f"--no-{name.replace('_', '-')}"]
                kw.update(action="store_false")
                shown = f"{meta.get('negate_help') or 'turn this off'} (default: {help_text or 'on'})"
            else:
                flags = [cls.flag(name)] + ([meta["short"]] if meta.get("short") else [])
                kw.update(action="store_true")
                shown = help_text if "(default" in help_text else f"{help_text} (default: off)".strip()
            action = target.add_argument(*flags, help=shown or None, **kw)
        else:
            flags = [cls.flag(name)] + ([meta["short"]] if meta.get("short") else [])
            metavar = meta.get("metavar") or ("{" + ",".join(map(str, choices)) + "}" if choices else None)
            if meta.get("nargs") is not None:
                kw["nargs"] = meta["nargs"]
            action = target.add_argument(*flags, metavar=metavar, help=_with_default(help_text, cls, name), **kw)
        action.schema_field = (cls, name)
        actions.append(action)
        for old in meta.get("hidden") or ():  # old spellings: accepted, not shown
            extra = dict(kw)
            if "action" not in extra and meta.get("nargs") is not None:
                extra["nargs"] = meta["nargs"]
            hidden = target.add_argument(old, help=argparse.SUPPRESS, **extra)
            hidden.schema_field = (cls, name)
    return actions


def _with_default(text: str, cls: type[Config], name: str, positional: bool = False) -> str:
    field = cls.model_fields[name]
    if field.is_required():
        return text if positional else f"{text} (required)".strip()
    return f"{text} (default: {default_text(cls, name)})" if text else f"(default: {default_text(cls, name)})"


def given(args: argparse.Namespace, cls: type[Config]) -> dict[str, Any]:
    """The fields of ``cls`` the user gave on the command line."""
    return {k: v for k, v in vars(args).items() if k in cls.model_fields}


def config_from_args(cls: type[Config], args: argparse.Namespace, **overrides: Any) -> Config:
    """The validated config: what was typed, then ``overrides``, the rest from the defaults."""
    return cls(**{**given(args, cls), **overrides})


def command(parser: argparse.ArgumentParser, cls: type[Config], func, description: str, examples: list[str],
            groups: tuple[str, ...] = ()) -> dict:
    """Fill a sub-command's parser: its description, examples (the epilog), one argument per field of
    ``cls`` (in the help sections ``groups``, in that order), ``--json``, and the handler ``func``."""
    parser.description = description
    parser.epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    sections = {title: parser.add_argument_group(title) for title in groups}
    add_config_arguments(parser, cls, groups=sections)
    add_output_arguments(parser)
    parser.set_defaults(func=func)
    return sections


def add_subcommands(parser: argparse.ArgumentParser, dest: str, table: dict, add_arguments, json_help: str) -> None:
    """Fill a command group's parser (``words``, ``cache``): ``table`` maps each sub-command to (handler, help,
    examples); ``add_arguments(sub_parser, name)`` adds its config's options; every one gets ``--json``."""
    sub = parser.add_subparsers(dest=dest, metavar="SUBCOMMAND")
    sub.required = True
    for name, (func, help_text, examples) in table.items():
        p = sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".",
                           formatter_class=HelpFormatter,
                           epilog="examples:\n" + "\n".join(f"  {e}" for e in examples))
        add_arguments(p, name)
        p.add_argument("--json", action="store_true", help=json_help)
        p.set_defaults(func=func)


def add_output_arguments(parser: argparse.ArgumentParser, *, json: bool = True, quiet: bool = False) -> None:
    """``--json`` (and ``--quiet`` where the config has no field for it): how results are printed."""
    if json:
        parser.add_argument("--json", action="store_true",
                            help="print exactly one JSON object on stdout; progress and warnings go to stderr "
                                 "(default: a readable summary)")
    if quiet:
        parser.add_argument("--quiet", action="store_true",
                            help="no progress bars or progress lines on stderr (default: off)")
