"""Typed configuration: dataclasses loaded from TOML.

The loader (:func:`load_dataclass`, :func:`load_toml`)

- rejects unknown keys, checks values against the dataclass annotations,
- maps kebab-case keys to snake_case fields,
- resolves relative ``Path`` values against the directory of the config file,
- reports **every** problem at once as ``file:line key/subkey[n]: message`` (:class:`ConfigError`).

Backend parameter classes live beside the role's config, never in a backend module, so loading a
config never imports a heavy backend.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from aiotwin._exceptions import ConfigError, ConfigProblem

T = TypeVar("T")

_MISSING = dataclasses.MISSING


class _Ctx:
    """Collects problems while one document is converted."""

    def __init__(self, file: str, text: str, base_dir: Path | None) -> None:
        self.file = file
        self.base_dir = base_dir
        self.lines = text.splitlines()
        self.problems: list[ConfigProblem] = []

    def add(self, path: list[str], message: str) -> None:
        key = _join(path)
        self.problems.append(ConfigProblem(self.file, key, message, self._line_of(path)))

    def _line_of(self, path: list[str]) -> int | None:
        """Best-effort source line of the last named key in ``path``."""
        names = [p for p in path if not p.startswith("[")]
        if not names:
            return None
        last = names[-1]
        pat = re.compile(rf"^\s*(?:\[\[?[^\]]*\]?\]\s*)?[\"']?{re.escape(last)}[\"']?\s*=")
        header = re.compile(rf"^\s*\[\[?\s*(?:[\w.-]+\.)?{re.escape(last)}\s*\]\]?")
        for i, line in enumerate(self.lines, start=1):
            if pat.match(line) or header.match(line):
                return i
        return None


def _join(path: list[str]) -> str:
    out = ""
    for part in path:
        out += part if part.startswith("[") or not out else f"/{part}"
    return out


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("pathlib.", "")


def _convert(value: Any, tp: Any, path: list[str], ctx: _Ctx) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors_before = len(ctx.problems)
        for arg in (a for a in args if a is not type(None)):
            trial = _Ctx(ctx.file, "", ctx.base_dir)
            trial.lines = ctx.lines
            result = _convert(value, arg, path, trial)
            if not trial.problems:
                return result
        del ctx.problems[errors_before:]
        ctx.add(path, f"expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
        return None
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            ctx.add(path, f"expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            ctx.add(path, f"expected a list, got {type(value).__name__}")
            return []
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                ctx.add(path, f"expected {len(args)} items, got {len(value)}")
                return ()
            return tuple(
                _convert(v, a, [*path, f"[{i}]"], ctx) for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item_tp = args[0] if args else Any
        items = [_convert(v, item_tp, [*path, f"[{i}]"], ctx) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            ctx.add(path, f"expected a table, got {type(value).__name__}")
            return {}
        _, val_tp = get_args(tp) or (str, Any)
        return {k: _convert(v, val_tp, [*path, k], ctx) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            ctx.add(path, f"expected a table, got {type(value).__name__}")
            return None
        return _build(tp, value, path, ctx)
    return _scalar(value, tp, path, ctx)


def _scalar(value: Any, tp: Any, path: list[str], ctx: _Ctx) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            ctx.add(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            ctx.add(path, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.add(path, f"expected a number, got {value!r}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            ctx.add(path, f"expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            ctx.add(path, f"expected a path string, got {value!r}")
            return value
        p = Path(value).expanduser()
        if not p.is_absolute() and ctx.base_dir is not None:
            p = ctx.base_dir / p
        return p
    ctx.add(path, f"unsupported field type {_type_name(tp)}")
    return value


def _build(cls: type[T], data: Mapping[str, Any], path: list[str], ctx: _Ctx) -> T | None:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        name = raw_key.replace("-", "_")
        if name not in fields:
            known = ", ".join(sorted(k.replace("_", "-") for k in fields))
            ctx.add([*path, raw_key], f"unknown key (known: {known})")
            continue
        kwargs[name] = _convert(value, hints[name], [*path, raw_key], ctx)
    for name, f in fields.items():
        if name not in kwargs and f.default is _MISSING and f.default_factory is _MISSING:
            ctx.add([*path, name.replace("_", "-")], f"required key missing ({_type_name(hints[name])})")
    if len(ctx.problems) > 0 and any(p.key.startswith(_join(path)) for p in ctx.problems):
        return None
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ validation of the dataclass itself
        ctx.add(path, str(exc))
        return None


def load_dataclass(cls: type[T], data: Mapping[str, Any], *, file: str = "<config>",
                   text: str = "", base_dir: Path | None = None) -> T:
    """Convert a parsed mapping into ``cls``; raise :class:`ConfigError` listing every problem."""
    ctx = _Ctx(file, text, base_dir)
    result = _build(cls, data, [], ctx)
    if ctx.problems or result is None:
        raise ConfigError(ctx.problems or [ConfigProblem(file, "", "invalid config")])
    return result


def parse_toml(text: str, *, file: str = "<config>") -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a :class:`ConfigError` naming file and line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            [ConfigProblem(file, "", f"TOML syntax error: {exc}", int(m.group(1)) if m else None)]
        ) from exc


def load_toml(cls: type[T], path: Path) -> T:
    """Read ``path`` and convert it into ``cls`` (relative paths resolve against its directory)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), "", f"cannot read: {exc}")]) from exc
    data = parse_toml(text, file=str(path))
    return load_dataclass(cls, data, file=str(path), text=text, base_dir=path.parent)


def dump_dataclass(obj: Any) -> dict[str, Any]:
    """Inverse of :func:`load_dataclass` for JSON/TOML output (Paths become strings, keys kebab-case)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name.replace("_", "-"): _dump_value(getattr(obj, f.name)) for f in dataclasses.fields(obj)
        }
    raise TypeError(f"not a dataclass instance: {obj!r}")


def _dump_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dump_dataclass(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_dump_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump_value(v) for k, v in value.items()}
    return value


__all__ = ["dump_dataclass", "load_dataclass", "load_toml", "parse_toml"]

_ = typing  # keep typing imported for get_type_hints on string annotations
