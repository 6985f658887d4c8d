"""Errors of the link emulator.

Tree::

    AiotwinError
    └── NetemError                 base of every link-emulator error
        ├── ShapeError             a link parameter is invalid (also a ValueError; names the field)
        ├── ControlRequestError    a control-API request body is malformed (HTTP 400)
        ├── LinkNotFound           no link has that name (HTTP 404)
        ├── LinkExists             a link with that name is already running
        └── LinkBindError          the listening socket cannot be bound (port in use, bad address)

Low-level errors (``OSError`` from ``bind``, ``json.JSONDecodeError``, the config loader's
``ConfigError``) are wrapped at the boundary with ``raise ... from ...``.
"""

from __future__ import annotations

from aiotwin._exceptions import AiotwinError


class NetemError(AiotwinError):
    """Base of every error raised by :mod:`aiotwin.netem`."""


class ShapeError(NetemError, ValueError):
    """A link-shape parameter is invalid; ``field`` names it (``upstream.loss``), ``problems`` lists all."""

    def __init__(self, field: str, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        self.field = field
        self.message = message
        self.problems = problems or [(field, message)]
        super().__init__("; ".join(f"{f or '<root>'}: {m}" for f, m in self.problems))


class ControlRequestError(NetemError):
    """A control-API request is malformed; ``problems`` holds ``(field, message)`` pairs for the reply."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        self.problems = problems or []
        super().__init__(message)


class LinkNotFound(NetemError):
    """No link with the given name exists."""


class LinkExists(NetemError):
    """A link with the given name already exists."""


class LinkBindError(NetemError):
    """The link's listening socket cannot be bound."""


__all__ = ["ControlRequestError", "LinkBindError", "LinkExists", "LinkNotFound", "NetemError", "ShapeError"]
