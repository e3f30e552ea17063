"""The schema every capability's options are written in: one typed, validated config per capability.

A config is a pydantic model whose fields are declared with :func:`option`: type, default, help
text, allowed values and ranges, the command-line spelling and whether the field is *runtime-only*
(it changes where or how fast a run executes, never its result: ``--resume`` lets it differ and a
sweep leaves it out of a run's identity).  Every door maps onto these models: the argparse
parsers are built from them (``transferlab.cli_args``), sweep specs and YAML files are read into
them (``Config.from_dict``), and the Python API passes keyword arguments to them.  So a bad value
gets the same one-line message whichever door it came through::

    batch_size (--batch-size) must be an integer >= 1, got 0

This module imports pydantic only (no torch, no numpy): building a parser stays fast.
"""
from __future__ import annotations

import difflib
import os
import typing
from typing import Annotated, Any, ClassVar, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from transferlab.errors import BadInputError

__all__ = ["Config", "ConfigError", "DeviceName", "Literal", "device_option", "option", "quiet_option", "top_k_option"]


class ConfigError(BadInputError):
    """A value that the schema refuses; the message names the option and what is allowed."""


def option(default: Any = None, help: str = "", *, flag: str | None = None, short: str | None = None,
           hidden: tuple[str, ...] = (), negate: str | None = None, negate_help: str | None = None,
           runtime: bool = False, group: str | None = None,
           metavar: str | None = None, positional: bool = False, nargs: int | str | None = None, cli: bool = True,
           default_text: str | None = None, **constraints) -> Any:
    """A config field with everything a door needs to know about it.

    ``flag``: the command-line spelling (default ``--field-name``); ``short``: a one-letter alias;
    ``hidden``: old spellings still accepted but not shown; ``negate``: for a boolean that is on by
    default, the flag that turns it off (``--no-cache``), whose help is ``negate_help`` (``help`` says
    what the default does); ``runtime``: the field never changes a
    result; ``group``: the help section; ``positional``: a positional argument; ``cli=False``: set
    from Python or YAML only; ``default_text``: how the help states a default of None;
    ``constraints``: pydantic's ``ge``, ``gt``, ``le``, ``lt``, ``min_length`` ...
    """
    extra = {"flag": flag, "short": short, "hidden": tuple(hidden), "negate": negate, "negate_help": negate_help,
             "runtime": runtime,
             "group": group, "metavar": metavar, "positional": positional, "nargs": nargs, "cli": cli,
             "default_text": default_text}
    return Field(default, description=help, json_schema_extra={"transferlab": extra}, **constraints)


# -- options that several commands share: one spelling, one range, one check ----------------------
def _device_name(value: str | None) -> str | None:
    from transferlab.runtime import check_device_name

    return check_device_name(value)


DeviceName = Annotated[Optional[str], AfterValidator(_device_name)]
"""The type of a ``--device`` field: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (None: automatic)."""


def device_option(**extra) -> Any:
    """``--device`` (typed ``DeviceName``): runtime-only, automatic by default."""
    return option(None, "cpu, cuda, cuda:N or mps", runtime=True, default_text="cuda when available, else cpu",
                  **extra)


def quiet_option(help: str = "no progress lines on stderr", **extra) -> Any:
    """``--quiet``: runtime-only, off by default; ``help`` says what it silences in that command."""
    return option(False, help, runtime=True, **extra)


def top_k_option(default: int, help: str, **extra) -> Any:
    """``--top-k K``: how many answers per item, at least one."""
    return option(default, help, ge=1, metavar="K", **extra)


def _meta(field) -> dict:
    extra = field.json_schema_extra or {}
    return extra.get("transferlab", {}) if isinstance(extra, dict) else {}


class Config(BaseModel):
    """Base of every capability's config: validated on creation and on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True,
                              protected_namespaces=())
    command: ClassVar[str] = ""  # the `transferlab` sub-command this config belongs to (for messages)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(explain(type(self), exc)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise ConfigError(explain(type(self), exc)) from None

    @model_validator(mode="before")
    @classmethod
    def _plain_values(cls, data: Any) -> Any:
        """Paths become strings and tuples lists, whichever door they came through."""
        if isinstance(data, dict):
            return {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in data.items()}
        return data

    # -- the schema, read by the doors ------------------------------------------------------------
    @classmethod
    def runtime_fields(cls) -> frozenset[str]:
        """Fields that change where or how fast a run executes, never its result."""
        return frozenset(n for n, f in cls.model_fields.items() if _meta(f).get("runtime"))

    @classmethod
    def flag(cls, name: str) -> str:
        """The command-line spelling of a field (``batch_size`` -> ``--batch-size``)."""
        field = cls.model_fields[name]
        meta = _meta(field)
        if meta.get("positional"):
            return name.upper()
        if meta.get("negate") and field.default is True:
            return meta["negate"]
        return meta.get("flag") or "--" + name.replace("_", "-")

    @classmethod
    def spellings(cls) -> dict[str, tuple[str, bool]]:
        """Every accepted key spelling -> (field, inverted): the field name, its flags with or without
        dashes, old spellings; a ``--no-x`` flag inverts a boolean (``no-cache: true`` = ``use_cache: false``)."""
        out: dict[str, tuple[str, bool]] = {}
        for name, field in cls.model_fields.items():
            meta = _meta(field)
            out[name] = (name, False)
            flags = [meta.get("flag") or "--" + name.replace("_", "-"), *(meta.get("hidden") or ())]
            if meta.get("short"):
                flags.append(meta["short"])
            inverted = [meta["negate"]] if meta.get("negate") else []
            for words, inv in ((flags, False), (inverted, True)):
                for w in words:
                    bare = w.lstrip("-")
                    for key in (bare, bare.replace("-", "_")):
                        out.setdefault(key, (name, inv))
        return out

    @classmethod
    def normalise(cls, key: str, value: Any, where: str = "") -> tuple[str, Any]:
        """(field, value) for a key as a user wrote it; an unknown key names itself and the valid ones."""
        k = str(key).strip()
        hit = cls.spellings().get(k.lstrip("-")) or cls.spellings().get(k.lstrip("-").replace("-", "_"))
        if hit is None:
            raise ConfigError(unknown_message(cls, k, where))
        name, inverted = hit
        if inverted:
            if not isinstance(value, bool):
                raise ConfigError(f"{where + ': ' if where else ''}{k} expects true or false, got {value}")
            value = not value
        return name, value

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "") -> "Config":
        """A config from a mapping whose keys may be spelt as fields or as command-line options."""
        if not isinstance(values, dict):
            raise ConfigError(f"{where or cls.__name__}: expected a mapping of option: value")
        data: dict[str, Any] = {}
        for k, v in values.items():
            name, v = cls.normalise(k, v, where)
            data[name] = v
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Config":
        """Read a YAML file of settings (``config.yaml`` of a run, or one written by hand)."""
        from transferlab.io import read_yaml

        data = read_yaml(path, "config")
        if not isinstance(data, dict):
            what = "it is empty or only comments" if data is None else f"it holds a {type(data).__name__}"
            raise ConfigError(f"{path} does not hold a mapping of settings ({what}: damaged, or not a config file)")
        return cls.from_dict(data, str(path))

    # -- values -----------------------------------------------------------------------------------
    def to_dict(self, runtime: bool = True) -> dict[str, Any]:
        """Plain (JSON/YAML-ready) values; ``runtime=False`` leaves the runtime-only fields out."""
        d = self.model_dump(mode="json")
        if not runtime:
            for k in self.runtime_fields():
                d.pop(k, None)
        return d

    def to_yaml(self, header: str = "") -> str:
        import yaml

        return header + yaml.safe_dump(self.to_dict(runtime=False), sort_keys=False)

    def replace(self, **changes: Any) -> "Config":
        """A validated copy with some fields changed."""
        return type(self)(**{**self.model_dump(), **changes})

    def identity(self) -> dict[str, Any]:
        """The result-changing fields that differ from their defaults: what names a run."""
        defaults = {n: _plain(f.default) for n, f in type(self).model_fields.items() if not f.is_required()}
        return {k: v for k, v in self.to_dict(runtime=False).items() if k not in defaults or defaults[k] != v}

    def diff(self, other: "Config") -> list[str]:
        """``field: mine -> theirs`` for every result-changing field that differs."""
        a, b = self.to_dict(runtime=False), other.to_dict(runtime=False)
        return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in a if a.get(k) != b.get(k)]

    def to_argv(self, only: set[str] | None = None) -> list[str]:
        """The command-line words that give this config's non-default values (the equivalent command)."""
        words: list[str] = []
        defaults = {n: f.default for n, f in type(self).model_fields.items()}
        for name, field in type(self).model_fields.items():
            meta = _meta(field)
            value = getattr(self, name)
            if (only is not None and name not in only) or not meta.get("cli", True):
                continue
            if only is None and value == defaults[name]:
                continue
            if meta.get("positional"):
                words += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
            elif isinstance(value, bool):
                if value != defaults[name]:
                    words.append(self.flag(name))
            elif value is None:
                continue
            elif isinstance(value, (list, tuple)):
                words += [self.flag(name), *(_word(v) for v in value)]
            else:
                words += [self.flag(name), _word(value)]
        return words


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _word(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


# -- messages --------------------------------------------------------------------------------------
def describe(cls: type[Config], name: str) -> str:
    """What a field allows, in words: ``an integer >= 1``, ``one of fne, std, l2, none``."""
    field = cls.model_fields[name]
    ann = field.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)] if typing.get_origin(ann) in (
        typing.Union, getattr(__import__("types"), "UnionType", typing.Union)) else [ann]
    base = args[0] if args else ann
    if typing.get_origin(base) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(base)))
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a text"}.get(base, "a value")
    if typing.get_origin(base) in (list, tuple):
        inner = typing.get_args(base)
        kind = {int: "integers", float: "numbers", str: "texts"}.get(inner[0] if inner else str, "values")
        count = f"{len(inner)} " if typing.get_origin(base) is tuple and Ellipsis not in inner else ""
        words = f"a list of {count}{kind}"
    bounds = {}
    for m in field.metadata:
        for key in ("ge", "gt", "le", "lt"):
            if getattr(m, key, None) is not None:
                bounds[key] = getattr(m, key)
    lo = next(((k, bounds[k]) for k in ("ge", "gt") if k in bounds), None)
    hi = next(((k, bounds[k]) for k in ("le", "lt") if k in bounds), None)
    if lo and hi:
        words += f" in {'[' if lo[0] == 'ge' else '('}{lo[1]}, {hi[1]}{']' if hi[0] == 'le' else ')'}"
    elif lo:
        words += f" {'>=' if lo[0] == 'ge' else '>'} {lo[1]}"
    elif hi:
        words += f" {'<=' if hi[0] == 'le' else '<'} {hi[1]}"
    named = [v for a in args[1:] if typing.get_origin(a) is Literal for v in typing.get_args(a)]
    return words + (" or " + ", ".join(map(str, named)) if named else "")


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def explain(cls: type[Config], exc: ValidationError) -> str:
    """One line for a pydantic ValidationError: each bad option, what it allows, what it got."""
    parts: list[str] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = [str(x) for x in err.get("loc", ())]
        kind = err.get("type", "")
        name = loc[0] if loc else ""
        if kind == "extra_forbidden":
            parts.append(unknown_message(cls, name, ""))
            continue
        if name in seen:
            continue
        if name not in cls.model_fields:  # a rule across several fields
            parts.append(_strip(err.get("msg", "")))
            continue
        seen.add(name)
        label = f"{name} ({cls.flag(name)})"
        if kind == "missing":
            parts.append(f"{label} is required")
        elif kind == "value_error":
            parts.append(f"{label} {_strip(err.get('msg', ''))}, got {_shown(err.get('input'))}")
        else:
            parts.append(f"{label} must be {describe(cls, name)}, got {_shown(err.get('input'))}")
    return "; ".join(parts) or str(exc)


def _strip(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def unknown_message(cls: type[Config], key: str, where: str) -> str:
    names = sorted((n for n, f in cls.model_fields.items()), key=str.lower)
    close = difflib.get_close_matches(key.lstrip("-").replace("-", "_"), names, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    cmd = f" for `transferlab {cls.command}`" if cls.command else ""
    prefix = f"{where}: " if where else ""
    return f"{prefix}unknown option {key!r}{cmd}.{hint} Valid options: {', '.join(names)}"
